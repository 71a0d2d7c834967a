package cli

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// check refuses settings serve cannot run with, before anything starts,
// with one line naming the flag, its variable and the value: a zero where
// zero means nothing, a negative budget, an unknown name, a malformed address or URL.
func (f *serveFlags) check(fs *flag.FlagSet) error {
	bad := func(name, why string) error {
		v := fs.Lookup(name).Value.String()
		return &exitError{code: 2, msg: fmt.Sprintf("aijobs serve: invalid value %q for --%s (%s): %s", v, name, envName(name), why)}
	}
	atLeast := func(name string, v, least int64) error {
		if v < least {
			return bad(name, fmt.Sprintf("must be at least %d", least))
		}
		return nil
	}
	positive := func(name string, v float64) error {
		if v <= 0 {
			return bad(name, "must be more than zero")
		}
		return nil
	}
	oneOf := func(name, v string, allowed ...string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return bad(name, "want "+strings.Join(allowed, ", "))
	}
	httpURL := func(name, v string) error {
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad(name, "want an absolute http:// or https:// URL")
		}
		if u.User != nil {
			return bad(name, "credentials in the URL are not supported")
		}
		return nil
	}
	checks := []error{
		oneOf("role", f.role, "all", "api", "worker"),
		oneOf("provider", f.provider.Provider, "offline", "openai", "anthropic"),
		oneOf("log-format", f.logFormat, "text", "json"),
		oneOf("log-level", f.logLevel, "debug", "info", "warn", "error"),
		f.checkAddr(bad),
		f.checkDatabase(bad),
		f.checkOrigins(bad),
		atLeast("workers", int64(f.workers), 1),
		atLeast("max-attempts", int64(f.attempts), 1),
		atLeast("max-input", int64(f.maxInput), 1),
		atLeast("max-streams", int64(f.maxStreams), 1),
		atLeast("submit-burst", int64(f.submitBurst), 1),
		atLeast("default-quota", f.defaultQuota, 0),
		atLeast("max-running-per-user", int64(f.maxPerUser), 0),
		atLeast("offline-chunk-delay", int64(f.provider.OfflineChunkDelay), 0),
		atLeast("shutdown-timeout", int64(f.shutdownTimeout), 0),
		atLeast("provider-rpm", int64(f.providerRPM), 0),
		atLeast("provider-tpm", f.providerTPM, 0),
		positive("provider-wait", float64(f.providerWait)),
		positive("submit-rate", f.submitRate),
		positive("job-timeout", float64(f.jobTimeout)),
		positive("node-lease", float64(f.nodeLease)),
		positive("retention", float64(f.retention)),
		positive("provider-timeout", float64(f.provider.Timeout)),
		httpURL("openai-base-url", f.provider.OpenAIBaseURL),
		httpURL("anthropic-base-url", f.provider.AnthropicBaseURL),
		httpURL("jwks-url", f.jwt.JWKSURL),
		f.webhooks.check(bad),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

func (f *serveFlags) checkAddr(bad func(name, why string) error) error {
	if _, port, err := net.SplitHostPort(f.addr); err != nil || port == "" {
		return bad("addr", "want host:port, e.g. 127.0.0.1:8080 or :8080")
	}
	return nil
}

func (f *serveFlags) checkDatabase(bad func(name, why string) error) error {
	u := f.db.databaseURL
	switch {
	case u == "" && f.db.dataDir == "":
		return bad("data-dir", "must not be empty")
	case u == "", strings.HasPrefix(u, "sqlite:") && len(u) > len("sqlite:"),
		strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return nil
	}
	return bad("database-url", "want sqlite:PATH or postgres://…")
}

// checkOrigins accepts "*" or browser Origins: scheme://host[:port], no path.
func (f *serveFlags) checkOrigins(bad func(name, why string) error) error {
	if f.origins == "" {
		return nil
	}
	for _, o := range strings.Split(f.origins, ",") {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return bad("allowed-origins", fmt.Sprintf("%q is not an Origin such as https://app.example.com", o))
		}
	}
	return nil
}

// envName is the variable that sets the flag name: AIJOBS_<NAME>.
func envName(name string) string {
	return "AIJOBS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}
