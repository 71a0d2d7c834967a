package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServeRefusesBadSettings: a setting serve cannot run with stops it
// before anything starts, with one line naming the flag, its variable and
// the value, and exit code 2.
func TestServeRefusesBadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		vars map[string]string
		want string
	}{
		{[]string{"--workers", "0"}, nil, `invalid value "0" for --workers (AIJOBS_WORKERS): must be at least 1`},
		{[]string{"--workers", "-3"}, nil, `invalid value "-3" for --workers (AIJOBS_WORKERS): must be at least 1`},
		{nil, map[string]string{"AIJOBS_WORKERS": "0"}, `invalid value "0" for --workers (AIJOBS_WORKERS)`},
		{nil, map[string]string{"AIJOBS_WORKERS": "many"}, `invalid value "many" for --workers (AIJOBS_WORKERS)`},
		{[]string{"--workers", "many"}, nil, `invalid value "many" for flag -workers`},
		{[]string{"--max-attempts", "0"}, nil, `--max-attempts (AIJOBS_MAX_ATTEMPTS): must be at least 1`},
		{[]string{"--job-timeout", "0s"}, nil, `invalid value "0s" for --job-timeout (AIJOBS_JOB_TIMEOUT): must be more than zero`},
		{[]string{"--node-lease", "-1s"}, nil, `invalid value "-1s" for --node-lease`},
		{[]string{"--retention", "0s"}, nil, `--retention (AIJOBS_RETENTION): must be more than zero`},
		{[]string{"--provider-timeout", "0s"}, nil, `--provider-timeout (AIJOBS_PROVIDER_TIMEOUT): must be more than zero`},
		{[]string{"--submit-rate", "0"}, nil, `--submit-rate (AIJOBS_SUBMIT_RATE): must be more than zero`},
		{[]string{"--max-streams", "0"}, nil, `--max-streams (AIJOBS_MAX_STREAMS): must be at least 1`},
		{[]string{"--offline-chunk-delay", "-5ms"}, nil, `--offline-chunk-delay (AIJOBS_OFFLINE_CHUNK_DELAY): must be at least 0`},
		{[]string{"--default-quota", "-2"}, nil, `--default-quota (AIJOBS_DEFAULT_QUOTA): must be at least 0`},
		{[]string{"--provider-rpm", "-1"}, nil, `--provider-rpm (AIJOBS_PROVIDER_RPM): must be at least 0`},
		{[]string{"--provider-tpm", "-5"}, nil, `--provider-tpm (AIJOBS_PROVIDER_TPM): must be at least 0`},
		{[]string{"--provider-wait", "0s"}, nil, `--provider-wait (AIJOBS_PROVIDER_WAIT): must be more than zero`},
		{[]string{"--provider", "gpt"}, nil, `invalid value "gpt" for --provider (AIJOBS_PROVIDER): want offline, openai, anthropic`},
		{[]string{"--role", "both"}, nil, `invalid value "both" for --role (AIJOBS_ROLE): want all, api, worker`},
		{[]string{"--log-level", "loud"}, nil, `invalid value "loud" for --log-level (AIJOBS_LOG_LEVEL)`},
		{[]string{"--log-format", "xml"}, nil, `invalid value "xml" for --log-format (AIJOBS_LOG_FORMAT)`},
		{[]string{"--addr", "8080"}, nil, `invalid value "8080" for --addr (AIJOBS_ADDR): want host:port`},
		{[]string{"--database-url", "mysql://x"}, nil, `invalid value "mysql://x" for --database-url (AIJOBS_DATABASE_URL)`},
		{[]string{"--openai-base-url", "localhost:11434/v1"}, nil, `invalid value "localhost:11434/v1" for --openai-base-url`},
		{[]string{"--jwks-url", "https://user:pw@idp.example/jwks"}, nil, `--jwks-url (AIJOBS_JWKS_URL): credentials in the URL are not supported`},
		{[]string{"--allowed-origins", "https://app.example.com,app.example.com"}, nil, `"app.example.com" is not an Origin`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " ")+" "+strings.Join(mapKeys(tt.vars), " "), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			vars := map[string]string{"AIJOBS_DATA_DIR": dir}
			for k, v := range tt.vars {
				vars[k] = v
			}
			got := runCLI(t, vars, false, append([]string{"serve", "--addr", "127.0.0.1:0"}, tt.args...)...)
			if got.code != 2 || !strings.Contains(got.stderr, tt.want) || strings.Count(got.stderr, "\n") != 1 || got.stdout != "" {
				t.Errorf("exit code %d, stdout %q, stderr %q; want exit code 2 and one line holding %q", got.code, got.stdout, got.stderr, tt.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the data directory was created (%v): serve started before refusing", err)
			}
		})
	}
}

func mapKeys(m map[string]string) []string {
	var keys []string
	for k, v := range m {
		keys = append(keys, k+"="+v)
	}
	return keys
}

// TestConfigurationDocs: docs/configuration.md lists every flag of every
// command, with its variable and the default the command really has.
func TestConfigurationDocs(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	flagLine := regexp.MustCompile(`^  -([a-z0-9-]+)`)
	defaultOf := regexp.MustCompile(` \(default (.*)\)$`)
	for name, cmd := range commands() {
		if cmd.run == nil || name == "version" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, nil, false, append(strings.Fields(name), "-h")...)
			if got.code != 0 || !strings.HasPrefix(got.stdout, "usage: aijobs "+name) {
				t.Fatalf("%s -h: exit code %d, stdout %q, stderr %q; want the usage on stdout, exit code 0", name, got.code, got.stdout, got.stderr)
			}
			if !strings.Contains(string(doc), "## `aijobs "+name+"`") {
				t.Errorf("docs/configuration.md has no section \"## `aijobs %s`\"", name)
			}
			lines := strings.Split(got.stdout, "\n")
			for i, line := range lines {
				m := flagLine.FindStringSubmatch(line)
				if m == nil || i+1 >= len(lines) {
					continue
				}
				def := "—"
				if d := defaultOf.FindStringSubmatch(lines[i+1]); d != nil {
					def = "`" + strings.Trim(d[1], `"`) + "`"
				}
				row := "| `--" + m[1] + "` | `" + envName(m[1]) + "` | " + def + " |"
				if !strings.Contains(string(doc), row) {
					t.Errorf("docs/configuration.md lacks the row of %s --%s, which should start %q", name, m[1], row)
				}
			}
		})
	}
}
