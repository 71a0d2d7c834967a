package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/aijobs/aijobs/ai"
	"github.com/aijobs/aijobs/api"
	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/hub"
	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/logs"
	"github.com/aijobs/aijobs/metrics"
	"github.com/aijobs/aijobs/queue"
	"github.com/aijobs/aijobs/secret"
	"github.com/aijobs/aijobs/store"
	"github.com/aijobs/aijobs/throttle"
	"github.com/aijobs/aijobs/web"
	"github.com/aijobs/aijobs/webhook"
	"github.com/aijobs/aijobs/worker"
)

// dbFlags are the flags every command that opens the database takes.
type dbFlags struct {
	dataDir     string
	databaseURL string
}

func (f *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", "./aijobs-data", "directory for the embedded database, the secret key and the demo token")
	fs.StringVar(&f.databaseURL, "database-url", "", "sqlite:PATH or postgres://… (default: SQLite in the data directory)")
}

func (f *dbFlags) url() string {
	if f.databaseURL != "" {
		return f.databaseURL
	}
	return "sqlite:" + filepath.Join(f.dataDir, "aijobs.db")
}

// open opens the store and brings River's and aijobs' schemas up to date.
func (f *dbFlags) open(ctx context.Context) (*store.Store, error) {
	st, err := store.Open(ctx, f.url())
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx, func(ctx context.Context) error { return queue.Migrate(ctx, st) }); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return st, nil
}

type serveFlags struct {
	db              dbFlags
	addr            string
	role            string
	workers         int
	provider        ai.Config
	secretKey       string
	retention       time.Duration
	maxInput        int
	attempts        int
	jobTimeout      time.Duration
	nodeLease       time.Duration
	defaultQuota    int64
	jwt             auth.JWTConfig
	jwtSecret       string
	origins         string
	maxStreams      int
	submitRate      float64
	submitBurst     int
	shutdownTimeout time.Duration
	logFormat       string
	logLevel        string
	fairShare       bool
	maxPerUser      int
	webhooks        webhookFlags
	providerRPM     int
	providerTPM     int64
	providerWait    time.Duration
}

// register defines serve's flags. Each default is the component's own
// (queue.DefaultWorkers, …), so it is written once; docs/configuration.md
// lists them all (a test keeps it complete).
func (f *serveFlags) register(fs *flag.FlagSet) {
	f.db.register(fs)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "address to serve HTTP on (role worker: only /healthz, /readyz and /metrics)")
	fs.StringVar(&f.role, "role", "all", "all (API and workers), api (HTTP only) or worker (jobs only)")
	fs.IntVar(&f.workers, "workers", queue.DefaultWorkers, "jobs run at once by this process")
	fs.BoolVar(&f.fairShare, "fair-share", true, "when the queue is contended, share the workers between users with queued work (weighted, each user's jobs in submit order) instead of first in, first out; every node of one database should agree")
	fs.IntVar(&f.maxPerUser, "max-running-per-user", 0, "with --fair-share, the most jobs of one user running (or ready, or retrying) at once, on all nodes together; the others wait while other users' jobs run (0: no cap)")
	fs.StringVar(&f.provider.Provider, "provider", "offline", "AI provider: offline, openai or anthropic")
	fs.StringVar(&f.provider.Model, "model", "", "model name (default: the provider's default)")
	fs.StringVar(&f.provider.OpenAIBaseURL, "openai-base-url", "", "OpenAI-compatible base URL (OpenAI, vLLM, Ollama, llama.cpp, LM Studio; default "+ai.DefaultOpenAIBaseURL+")")
	fs.StringVar(&f.provider.AnthropicBaseURL, "anthropic-base-url", "", "Anthropic API base URL (default "+ai.DefaultAnthropicBaseURL+")")
	fs.DurationVar(&f.provider.OfflineChunkDelay, "offline-chunk-delay", ai.DefaultOfflineChunkDelay, "pause between the offline provider's chunks (0: none, for benchmarks)")
	fs.DurationVar(&f.provider.Timeout, "provider-timeout", ai.DefaultTimeout, "time limit of one call to the provider")
	fs.IntVar(&f.providerRPM, "provider-rpm", throttle.DefaultRPM, "requests per minute to the provider and model, shared by every worker of every node, spaced evenly (0: unlimited; not for the offline provider)")
	fs.Int64Var(&f.providerTPM, "provider-tpm", throttle.DefaultTPM, "tokens per minute to the provider and model, shared by every worker of every node: each call reserves an estimate and settles with its real usage (0: unlimited)")
	fs.DurationVar(&f.providerWait, "provider-wait", throttle.DefaultWait, "how long a job may wait for its provider (capacity, Retry-After, an outage) before it fails with provider_unavailable; waiting uses no attempt")
	fs.StringVar(&f.secretKey, "secret-key", "", "master key, 32+ bytes as hex or base64 (default: generated into the data directory); all nodes of one database need the same (prefer AIJOBS_SECRET_KEY: a flag shows in ps)")
	fs.DurationVar(&f.retention, "retention", jobs.DefaultRetention, "how long finished jobs stay readable")
	fs.IntVar(&f.maxInput, "max-input", jobs.DefaultMaxInput, "largest input in bytes")
	fs.IntVar(&f.attempts, "max-attempts", queue.DefaultMaxAttempts, "attempts per job")
	fs.DurationVar(&f.jobTimeout, "job-timeout", queue.DefaultJobTimeout, "time limit of one attempt")
	fs.DurationVar(&f.nodeLease, "node-lease", queue.DefaultLease, "a worker process that has not renewed its lease for this long is dead: its jobs are handed back at once")
	fs.Int64Var(&f.defaultQuota, "default-quota", auth.DefaultDailyQuota, "daily request quota of the demo user and of a user created by their first JWT")
	fs.StringVar(&f.jwtSecret, "jwt-secret", "", "HS256 secret of your app's JWTs: a bearer JWT's sub is the aijobs user (prefer AIJOBS_JWT_SECRET: a flag shows in ps)")
	fs.StringVar(&f.jwt.JWKSURL, "jwks-url", "", "URL of your identity provider's JWK set, for RS256/ES256/EdDSA JWTs (keys cached, refreshed, rotated by kid)")
	fs.StringVar(&f.jwt.Issuer, "jwt-issuer", "", "the iss a JWT must carry (empty: any)")
	fs.StringVar(&f.jwt.Audience, "jwt-audience", "", "the aud a JWT must carry (empty: any)")
	fs.StringVar(&f.jwt.AdminClaim, "jwt-admin-claim", "", "a boolean JWT claim that makes its subject an admin (empty: no JWT is an admin)")
	fs.StringVar(&f.jwt.QuotaClaim, "jwt-quota-claim", "", "a numeric JWT claim that sets its subject's daily quota, e.g. your plan's tier (empty: --default-quota for new users)")
	fs.StringVar(&f.origins, "allowed-origins", "", "comma-separated browser Origins (e.g. https://app.example.com) allowed besides the server's own, for CORS on /api/… (browser apps on another origin) and on /cable (* for any)")
	fs.IntVar(&f.maxStreams, "max-streams", api.DefaultMaxStreams, "per user and node: long-polls, SSE streams, /cable connections and /cable subscriptions held open at once (429 too_many_streams above)")
	fs.Float64Var(&f.submitRate, "submit-rate", api.DefaultSubmitRate, "submits per second per user (per node)")
	fs.IntVar(&f.submitBurst, "submit-burst", api.DefaultSubmitBurst, "submits a user may make at once above the rate")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", queue.DefaultDrain, "on SIGTERM/SIGINT, how long running jobs get to finish before they are interrupted (0: at once; a second signal stops at once)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log lines as text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "least severe log lines written: debug, info, warn or error (debug adds a line per request)")
	f.webhooks.register(fs)
}

func runServe(ctx context.Context, env *Env, args []string) error {
	var f serveFlags
	fs := newFlagSet("serve", "[flags]")
	f.register(fs)
	if err := parse(fs, env, args); err != nil {
		return err
	}
	if err := f.check(fs); err != nil {
		return err
	}
	f.provider.OpenAIAPIKey = firstEnv(env, "AIJOBS_OPENAI_API_KEY", "OPENAI_API_KEY")
	f.provider.AnthropicAPIKey = firstEnv(env, "AIJOBS_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY")
	log, err := logs.New(env.Stderr, f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	return serve(ctx, env, f, log)
}

func firstEnv(env *Env, names ...string) string {
	for _, n := range names {
		if v := env.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func serve(ctx context.Context, env *Env, f serveFlags, log *slog.Logger) error {
	// The port first: a busy one fails here, in one line, before the
	// database is migrated or River starts. listen closes it on shutdown.
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	defer ln.Close()
	provider, err := ai.New(f.provider)
	if err != nil {
		return err
	}
	keys, err := secret.Load(f.secretKey, f.db.dataDir)
	if err != nil {
		return err
	}
	st, err := f.db.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := ensureDemoUser(ctx, env, log, st, f.db.dataDir, f.defaultQuota); err != nil {
		return err
	}

	broker, runBroker, linkLive := newBroker(st, log)
	// One Registry per process; each part reports to it through its own
	// small observer interface (see package metrics).
	reg := metrics.New()
	provider = ai.Observed(provider, reg)
	targets := webhook.Targets{AllowPrivate: f.webhooks.allowPrivate}
	svc := jobs.NewService(st, reg.Broker(broker), keys, jobs.Config{
		Retention: f.retention, MaxInput: f.maxInput,
		RequireUserKey: provider.NeedsKey() && !provider.HasServerKey(),
		ValidKey:       ai.ValidKeyShape, CheckWebhookURL: targets.CheckURL,
	})
	linkLive(svc)
	hooks, err := f.webhooks.new(st, keys, svc, targets, reg.Registerer(), log)
	if err != nil {
		return err
	}
	work := f.role != "api"
	// The fleet's limits on a real provider (the offline one has none to
	// protect, and its failures are simulated job failures).
	var limits *throttle.Throttle
	if provider.Name() != "offline" {
		limits = throttle.New(st, throttle.Config{RPM: f.providerRPM, TPM: f.providerTPM})
	}
	run := worker.New(svc, provider, worker.Config{Logger: log, Throttle: limits, ProviderWait: f.providerWait, Observer: reg})
	q, err := queue.New(st, run, svc.Cleanup, queue.Config{
		Work: work, FairShare: f.fairShare, MaxRunningPerUser: f.maxPerUser, Workers: f.workers, MaxAttempts: f.attempts, JobTimeout: f.jobTimeout, Lease: f.nodeLease, Logger: log,
		Observer: reg,
		Kinds:    []queue.Kind{{Name: webhook.Kind, Queue: webhook.Queue, MaxWorkers: f.webhooks.workers, Register: hooks.Register}},
	})
	if err != nil {
		return err
	}
	st.SetDeliveryEnqueuer(webhook.Enqueuer(q.InsertTx))

	// A signal (ctx) starts the drain; HTTP and the broker go on serving
	// until it is over, so clients see the running jobs finish. A failing
	// part (gctx) stops everything.
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	serving, stopServing := context.WithCancel(gctx)
	defer stopServing()
	working, stopWorking := context.WithCancel(gctx)
	defer context.AfterFunc(ctx, stopWorking)()
	g.Go(func() error { return runBroker(serving) })
	// Who a request comes from; Run ends the streams of revoked or expired
	// credentials and records when tokens were last used.
	authCfg := auth.Config{Keys: keys, DefaultQuota: f.defaultQuota, Logger: log}
	if f.jwtSecret != "" || f.jwt.JWKSURL != "" {
		f.jwt.Secret = []byte(f.jwtSecret)
		v, err := auth.NewJWTVerifier(serving, f.jwt)
		if err != nil {
			return fmt.Errorf("--jwt-secret/--jwks-url: %w", err)
		}
		authCfg.JWT = v
	}
	authn := auth.New(st, authCfg)
	g.Go(func() error { return authn.Run(serving) })
	g.Go(func() error { defer stopServing(); return q.Run(working, f.shutdownTimeout) })
	var origins []string
	if f.origins != "" {
		origins = strings.Split(f.origins, ",")
	}
	// River UI at /riverui/, for admins (a worker serves no UI).
	var riverUI http.Handler
	if f.role != "worker" {
		if c := q.PgxClient(); c != nil {
			riverUI, err = api.NewRiverUI(serving, c, log)
		} else {
			riverUI, err = api.NewRiverUI(serving, q.SQLClient(), log)
		}
		if err != nil {
			return err
		}
	}
	srv := api.New(svc, api.Config{
		Auth:           authn,
		AllowedOrigins: origins, MaxStreams: f.maxStreams, Logger: log,
		SubmitRate: f.submitRate, SubmitBurst: f.submitBurst,
		RiverUI: riverUI, SessionKey: keys.Derive(api.SessionKeyPurpose),
		// /readyz: every check must pass; the body names the first that
		// fails. Add a check here with a name and a func.
		Ready: []api.Check{
			{Name: "database", Func: st.CheckDatabase}, // answers, schema current
			{Name: "pool", Func: st.CheckPool},         // a connection free within 1 s
			{Name: "writes", Func: st.CheckWrites},     // no write failing for the database's sake
			{Name: "draining", Func: func(context.Context) error { // shutting down: send traffic elsewhere
				if ctx.Err() != nil {
					return &jobs.Problem{Kind: jobs.KindUnavailable, Code: "draining", Message: "the server is shutting down"}
				}
				return nil
			}},
		},
		Webhooks:  hooks,
		Dashboard: web.Handler(),
		Metrics:   reg.Handler(),
		Observer:  reg,
		Stats:     reg.Stats(),
		OpsOnly:   f.role == "worker", // a worker serves only /healthz, /readyz and /metrics
	})
	reg.Observe(broker, st)
	g.Go(func() error { return reg.Stats().Run(serving, log) })
	g.Go(func() error { return listen(serving, ln, srv.Handler(), srv, log) })
	log.Info("aijobs started", slog.String("role", f.role), slog.String("addr", ln.Addr().String()), slog.String("provider", provider.Name()), slog.Bool("postgres", st.Postgres()))
	fmt.Fprintln(env.Stderr, listeningLine(ln.Addr(), f.role))
	return g.Wait()
}

// listeningLine is what serve prints once it listens: where, and where the
// dashboard is (a worker serves none). An unspecified address (0.0.0.0,
// [::]) gets a dashboard URL on localhost, which a browser can open.
func listeningLine(addr net.Addr, role string) string {
	a := addr.String()
	if role == "worker" {
		return fmt.Sprintf("listening on http://%s (only /healthz, /readyz and /metrics)", a)
	}
	dash := a
	if ta, ok := addr.(*net.TCPAddr); ok && (ta.IP == nil || ta.IP.IsUnspecified()) {
		dash = net.JoinHostPort("localhost", strconv.Itoa(ta.Port))
	}
	return fmt.Sprintf("listening on http://%s (dashboard at http://%s/)", a, dash)
}

// listen serves HTTP on ln until ctx ends, then tells streams to reconnect
// and shuts the server down.
func listen(ctx context.Context, ln net.Listener, h http.Handler, srv *api.Server, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    api.HardMaxHeader, // the API answers above its own, smaller limit
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	srv.Shutdown()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	srv.Wait(sctx)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down http: %w", err)
	}
	return nil
}

// broker is the hub as serve uses it: a jobs.Broker that can count its
// subscribers for metrics.
type broker interface {
	jobs.Broker
	Subscribers() int
}

// newBroker returns the hub, linked to other nodes through PostgreSQL when
// the store is on PostgreSQL, what runs it, and what links a Service's live
// state to the other nodes' changes (call it before running).
func newBroker(st *store.Store, log *slog.Logger) (broker, func(context.Context) error, func(jobs.LiveCache)) {
	h := hub.New(0)
	if !st.Postgres() {
		return h, func(ctx context.Context) error { <-ctx.Done(); return nil }, func(jobs.LiveCache) {}
	}
	n := hub.NewNotifier(h, st.Pool(), st, log)
	return n, n.Run, n.Keep
}

// ensureDemoUser creates the user "demo" on an empty database, saves its
// token (mode 0600) where the client commands find it and shows it once on
// the terminal that started the server. The token never goes to the log
// (env.Stderr, which is collected and kept): without a terminal the log
// says only where the file is.
func ensureDemoUser(ctx context.Context, env *Env, log *slog.Logger, st *store.Store, dataDir string, quota int64) error {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	u, created, err := st.EnsureUser(ctx, "demo", quota)
	if err != nil || !created {
		return err
	}
	tok, _, err := auth.New(st, auth.Config{}).CreateToken(ctx, u.ID, auth.NewToken{Name: "demo"})
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, "demo-token")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("save demo token: %w", err)
	}
	showDemoToken(env, log, path, tok)
	return nil
}

// showDemoToken writes the demo token to env's terminal, if it has one,
// and logs where the token file is — never the token.
func showDemoToken(env *Env, log *slog.Logger, path, tok string) {
	shown := false
	if env.Terminal != nil {
		if tty, err := env.Terminal(); err == nil {
			_, err = fmt.Fprintf(tty, "\nCreated user \"demo\". API token (saved in %s, shown only once):\n\n    %s\n\n", path, tok)
			shown = tty.Close() == nil && err == nil
		}
	}
	if shown {
		log.Info("created user \"demo\"; its API token is shown on the terminal and saved in the token file", slog.String("token_file", path))
	} else {
		log.Info("created user \"demo\"; its API token is in the token file (mode 0600), not in the log", slog.String("token_file", path))
	}
}

// openTerminal opens the process's controlling terminal for writing; it
// fails when there is none (a service, a container without -t, Windows).
func openTerminal() (io.WriteCloser, error) {
	return os.OpenFile("/dev/tty", os.O_WRONLY, 0)
}
