package ai

import (
	"context"
	"errors"
	"time"
)

// Observer is told about every provider call (metrics.Registry implements
// it). Its method must not block.
type Observer interface {
	// ProviderCall reports one Generate call of provider with model: how
	// long it took, the tokens it consumed (a failed call's too, when
	// known), and the error code of a failure ("" for success; a call
	// cancelled by the job's cancellation or shutdown is "cancelled").
	ProviderCall(provider, model string, took time.Duration, tokensIn, tokensOut int64, errCode string)
}

// Observed returns p, reporting each call to o. It keeps what p is: the
// Redactor of a call still finds p's server key.
func Observed(p Provider, o Observer) Provider {
	return &observed{Provider: p, o: o}
}

type observed struct {
	Provider
	o Observer
}

// serverKey keeps RedactorFor working on the wrapped provider.
func (p *observed) serverKey() string {
	if s, ok := p.Provider.(serverKeyed); ok {
		return s.serverKey()
	}
	return ""
}

func (p *observed) Generate(ctx context.Context, req Request, emit func(chunk string)) (Response, error) {
	start := time.Now()
	resp, err := p.Provider.Generate(ctx, req, emit)
	in, out, code := resp.TokensIn, resp.TokensOut, ""
	switch {
	case err == nil:
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		code = "cancelled"
	default:
		e := AsError(err)
		in, out, code = e.Usage.TokensIn, e.Usage.TokensOut, e.Code
	}
	// The configured model: a provider's answer may name any string, and a
	// label must stay low-cardinality.
	p.o.ProviderCall(p.Name(), p.Model(), time.Since(start), in, out, code)
	return resp, err
}
