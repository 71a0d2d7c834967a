package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aijobs/aijobs/jobtype"
)

// progressView shows a job's events while the CLI follows it. Event is
// called with each event in order, Done once at the end; both from one
// goroutine.
type progressView interface {
	Event(ev jobtype.Event)
	Done()
}

// jobState is what the views show: the job folded from its events
// (jobtype.View) and why its last attempt failed, while it retries.
type jobState struct {
	view   jobtype.View
	reason string
}

// apply folds ev into the state. It reports whether the output starts
// over (jobtype.View.Apply): output belongs to one attempt.
func (s *jobState) apply(ev jobtype.Event) (restart bool) {
	restart = s.view.Apply(ev)
	if ev.Type == jobtype.EventStatus || ev.Terminal {
		s.reason = ""
		if ev.Status == jobtype.StatusRetrying && ev.Error != nil {
			s.reason = ev.Error.Message
		}
	}
	return restart
}

// waitingWords says why a job waits for its provider (Job.Reason).
var waitingWords = map[string]string{
	jobtype.ReasonWaitingForCapacity: "waiting for capacity",
	jobtype.ReasonWaitingForProvider: "waiting for the provider",
}

// line renders the state as words: "working 40%", "retrying 40% (next
// attempt at 19:00:05: provider overloaded)", "queued 0% (waiting for
// capacity, next try at 19:00:05)".
func (s *jobState) line() string {
	j := &s.view.Job
	out := fmt.Sprintf("%s %d%%", j.Status, j.Progress)
	if j.Reason != "" {
		detail := waitingWords[j.Reason]
		if detail == "" {
			detail = sanitize(strings.ReplaceAll(j.Reason, "_", " "))
		}
		if j.RetryAt != nil {
			detail += ", next try at " + j.RetryAt.Local().Format(time.TimeOnly)
		}
		if s.reason != "" {
			detail += ": " + sanitize(s.reason)
		}
		return out + " (" + detail + ")"
	}
	if j.Status == jobtype.StatusRetrying {
		detail := ""
		if j.RetryAt != nil {
			detail = "next attempt at " + j.RetryAt.Local().Format(time.TimeOnly)
		}
		if s.reason != "" {
			if detail != "" {
				detail += ": "
			}
			detail += sanitize(s.reason)
		}
		if detail != "" {
			out += " (" + detail + ")"
		}
	}
	return out
}

// lineView prints one plain line for logs and pipes whenever the status
// changes or the progress passes a multiple of 10%, not for every percent.
type lineView struct {
	w       io.Writer
	state   jobState
	printed bool
	last    jobState // as printed
}

func newLineView(w io.Writer) *lineView { return &lineView{w: w} }

// Event prints the job's state if it changed enough.
func (v *lineView) Event(ev jobtype.Event) {
	v.state.apply(ev)
	s, l := v.state.view.Job, v.last.view.Job
	if v.printed && s.Status == l.Status && s.Progress/10 == l.Progress/10 && v.state.reason == v.last.reason && s.Reason == l.Reason &&
		ptrTime(s.RetryAt).Equal(ptrTime(l.RetryAt)) && (s.Progress == 100) == (l.Progress == 100) {
		return
	}
	v.printed, v.last = true, v.state
	fmt.Fprintln(v.w, v.state.line())
}

func ptrTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// Done prints nothing: the last line already says how the job ended.
func (v *lineView) Done() {}

// barCells is the width of the bar itself, where the terminal has room.
const barCells = 20

// barView draws a progress bar on the terminal's last line and the model's
// output above it as it streams: completed lines scroll up, the line being
// written shows after the bar. When an attempt starts its output over, the
// interrupted output ends with a marker line and the new output starts on
// a line of its own.
type barView struct {
	w       io.Writer
	columns func() int // the terminal's width, read again for every redraw
	width   int        // columns of the terminal at this redraw
	state   jobState
	partial []rune // the output line being written
	output  bool   // some output of the current attempt was shown
}

// newBarView returns a bar view on w; columns is called before every
// redraw, so the bar follows the terminal when it is resized.
func newBarView(w io.Writer, columns func() int) *barView {
	return &barView{w: w, columns: columns}
}

// measure reads the terminal's width for this redraw (at least 20).
func (v *barView) measure() {
	v.width = max(v.columns(), 20)
}

// Event updates the bar and prints the event's output.
func (v *barView) Event(ev jobtype.Event) {
	v.measure()
	restart := v.state.apply(ev)
	var b strings.Builder
	b.WriteString("\r\x1b[K") // clear the bar's line
	if restart && (v.output || len(v.partial) > 0) {
		v.endLine(&b)
		why := fmt.Sprintf("attempt %d", v.state.view.Job.Attempt)
		if ev.Error != nil {
			why += ": " + sanitize(ev.Error.Code)
		}
		b.WriteString(v.fit("--- output starts over (" + why + ") ---"))
		b.WriteString("\n")
		v.output = false
	}
	if ev.Type == jobtype.EventOutput {
		v.wrap(&b) // the terminal may have narrowed since the last redraw
		for _, r := range sanitize(ev.Text) {
			v.output = true
			if r == '\n' {
				b.WriteString(string(v.partial))
				b.WriteString("\n")
				v.partial = v.partial[:0]
				continue
			}
			v.partial = append(v.partial, r)
			v.wrap(&b)
		}
	}
	b.WriteString(v.bar())
	_, _ = io.WriteString(v.w, b.String())
}

// wrap prints the line being written, a terminal line at a time, while it
// is as wide as the terminal: long lines are wrapped here, not by the
// terminal, so the bar can be redrawn in place.
func (v *barView) wrap(b *strings.Builder) {
	for len(v.partial) >= v.width-1 {
		b.WriteString(string(v.partial[:v.width-1]))
		b.WriteString("\n")
		v.partial = append(v.partial[:0], v.partial[v.width-1:]...)
	}
}

// endLine ends the output line being written, if any.
func (v *barView) endLine(b *strings.Builder) {
	if len(v.partial) > 0 {
		b.WriteString(string(v.partial))
		b.WriteString("\n")
		v.partial = v.partial[:0]
	}
}

// Done leaves the output's last line and the final bar on the screen.
func (v *barView) Done() {
	v.measure()
	var b strings.Builder
	b.WriteString("\r\x1b[K")
	v.wrap(&b)
	v.endLine(&b)
	b.WriteString(v.fit(v.label()))
	b.WriteString("\n")
	_, _ = io.WriteString(v.w, b.String())
}

// fit cuts a line to the terminal's width, less one column so the cursor
// never wraps.
func (v *barView) fit(s string) string {
	if utf8.RuneCountInString(s) <= v.width-1 {
		return s
	}
	return string([]rune(s)[:v.width-1])
}

// label is the bar and the state: "[██████░░░░] working 40%". The bar
// narrows (to 5 cells) to leave the state room on a narrow terminal.
func (v *barView) label() string {
	line := v.state.line()
	cells := min(barCells, max(5, v.width-1-3-utf8.RuneCountInString(line)))
	filled := min(max(v.state.view.Job.Progress, 0), 100) * cells / 100
	return "[" + strings.Repeat("█", filled) + strings.Repeat("░", cells-filled) + "] " + line
}

// bar is the bar's line: the label, then as much of the line being written
// as fits, never wider than the terminal (a wrapped line could not be
// redrawn in place).
func (v *barView) bar() string {
	label := v.fit(v.label())
	n := utf8.RuneCountInString(label)
	room := v.width - 1 - n - 2
	if room <= 0 || len(v.partial) == 0 {
		return label
	}
	tail := v.partial[max(len(v.partial)-room, 0):]
	return label + "  " + string(tail)
}

// sanitize removes what could steer the terminal from text that came from a
// model or a server: escape sequences (CSI, OSC and the others) and other
// control characters go, tabs become a space, newlines stay.
func sanitize(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\n':
			b.WriteRune(r)
		case r == '\t':
			b.WriteByte(' ')
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '[', r == 0x9b:
			// CSI: parameters and intermediates up to a final byte.
			if r == 0x1b {
				i++
			}
			for i+1 < len(rs) && (rs[i+1] < 0x40 || rs[i+1] > 0x7e) && rs[i+1] >= 0x20 {
				i++
			}
			if i+1 < len(rs) && rs[i+1] >= 0x40 && rs[i+1] <= 0x7e {
				i++
			}
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == ']', r == 0x9d:
			// OSC: up to BEL or ESC \.
			for i++; i < len(rs); i++ {
				if rs[i] == 0x07 || rs[i] == 0x9c {
					break
				}
				if rs[i] == 0x1b && i+1 < len(rs) && rs[i+1] == '\\' {
					i++
					break
				}
			}
		case r == 0x1b:
			// ESC, intermediate bytes, one final byte ("ESC ( 0", "ESC c").
			for i+1 < len(rs) && rs[i+1] >= 0x20 && rs[i+1] <= 0x2f {
				i++
			}
			i++
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0, r == utf8.RuneError:
			// other control characters
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
