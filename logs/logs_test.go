package logs_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/aijobs/aijobs/logs"
)

func TestWith(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log, err := logs.New(&buf, format, "info")
		if err != nil {
			t.Fatal(err)
		}
		ctx := logs.With(context.Background(), slog.String("request_id", "r1"))
		job := logs.With(ctx, slog.String("job_id", "job_1"), slog.Int("attempt", 2))
		log.InfoContext(job, "job line")
		log.InfoContext(ctx, "request line")
		log.Info("plain line")
		log.DebugContext(job, "below the level")
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 3 {
			t.Fatalf("%s: %d lines, want 3 (debug is below info):\n%s", format, len(lines), buf.String())
		}
		for i, want := range [][]string{{"job line", "r1", "job_1", "2"}, {"request line", "r1"}, {"plain line"}} {
			for _, w := range want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("%s: line %q lacks %q", format, lines[i], w)
				}
			}
		}
		if strings.Contains(lines[1], "job_1") || strings.Contains(lines[2], "r1") {
			t.Errorf("%s: fields leaked to other lines:\n%s", format, buf.String())
		}
	}
	if _, err := logs.New(&bytes.Buffer{}, "xml", "info"); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := logs.New(&bytes.Buffer{}, "text", "loud"); err == nil {
		t.Error("level loud accepted")
	}
}
