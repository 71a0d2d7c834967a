package hub

import (
	"strings"
	"testing"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

func TestFanOutByJobAndUser(t *testing.T) {
	t.Parallel()
	h := New(4)
	job := h.Subscribe("u1", "j1")
	user := h.Subscribe("u1", "")
	other := h.Subscribe("u2", "")
	defer job.Close()
	defer user.Close()
	defer other.Close()
	h.Publish(jobs.Event{UserID: "u1", Event: jobtype.Event{JobID: "j1", Seq: 1}}, jobs.Event{UserID: "u1", Event: jobtype.Event{JobID: "j2", Seq: 1}})
	if got := len(job.Events()); got != 1 {
		t.Errorf("job subscriber got %d events, want 1", got)
	}
	if got := len(user.Events()); got != 2 {
		t.Errorf("user subscriber got %d events, want 2", got)
	}
	if got := len(other.Events()); got != 0 {
		t.Errorf("another user's subscriber got %d events", got)
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	t.Parallel()
	h := New(2)
	slow := h.Subscribe("u", "j")
	fast := h.Subscribe("u", "j")
	defer slow.Close()
	defer fast.Close()
	for i := int64(1); i <= 3; i++ {
		h.Publish(jobs.Event{UserID: "u", Event: jobtype.Event{JobID: "j", Seq: i}})
		if i < 3 {
			<-fast.Events() // fast keeps up
		}
	}
	select {
	case <-slow.Dropped():
	default:
		t.Fatal("a subscriber that fell behind was not dropped")
	}
	select {
	case <-fast.Dropped():
		t.Fatal("a subscriber that kept up was dropped")
	default:
	}
	if h.Subscribers() != 1 {
		t.Errorf("%d subscribers left, want 1 (the slow one is removed)", h.Subscribers())
	}
}

func TestCloseRemoves(t *testing.T) {
	t.Parallel()
	h := New(0)
	s := h.Subscribe("u", "")
	s.Close()
	s.Close() // twice is fine
	h.Publish(jobs.Event{UserID: "u", Event: jobtype.Event{JobID: "j"}})
	if h.Subscribers() != 0 {
		t.Errorf("%d subscribers after Close", h.Subscribers())
	}
}

// TestOneValueForEverySubscriber: every subscriber gets the same event
// value, and its JSON is encoded once for all of them.
func TestOneValueForEverySubscriber(t *testing.T) {
	t.Parallel()
	h := New(0)
	a, b := h.Subscribe("u", "j"), h.Subscribe("u", "")
	defer a.Close()
	defer b.Close()
	h.Publish(jobs.Event{UserID: "u", Event: jobtype.Event{JobID: "j", Seq: 1, Type: jobtype.EventOutput, Text: "hi"}})
	ea, eb := <-a.Events(), <-b.Events()
	if ea != eb {
		t.Fatal("the subscribers got two copies of one event")
	}
	ja, err := ea.JSON()
	if err != nil {
		t.Fatal(err)
	}
	jb, _ := eb.JSON()
	if &ja[0] != &jb[0] {
		t.Error("the event was encoded twice")
	}
	if want := `"text":"hi"`; !strings.Contains(string(ja), want) {
		t.Errorf("JSON %s lacks %s", ja, want)
	}
}
