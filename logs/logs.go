// Package logs builds aijobs' structured logger and carries the fields that
// belong on every line of one piece of work — a request's id, a job's id
// and attempt — in the context, so each line logged with that context
// (the *Context methods of slog) names what it is about without every call
// passing them.
package logs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
)

// New returns a logger writing format ("text" or "json") lines to w at
// level ("debug", "info", "warn" or "error") and above, adding the fields
// of With to the lines logged with a context.
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	switch level {
	case "debug", "info", "warn", "error":
		_ = lv.UnmarshalText([]byte(level))
	default:
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
	return slog.New(contextHandler{h}), nil
}

type fieldsKey struct{}

// With returns a context whose log lines carry attrs besides those ctx
// already carries.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(fieldsKey{}).([]slog.Attr)
	return context.WithValue(ctx, fieldsKey{}, append(slices.Clip(prev), attrs...))
}

// Fields returns the attrs With put in ctx.
func Fields(ctx context.Context) []slog.Attr {
	attrs, _ := ctx.Value(fieldsKey{}).([]slog.Attr)
	return attrs
}

// contextHandler adds the fields of the record's context to it.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if attrs := Fields(ctx); len(attrs) > 0 {
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
