package api

// Webhooks: a user's signing secret, a job's deliveries, and (admin) a
// user's default webhook. Without Config.Webhooks these paths answer as
// paths that do not exist.

import (
	"net/http"
	"time"

	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/jobs"
)

// rotateWebhookSecret answers a new webhook secret: shown only here.
func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	if s.cfg.Webhooks == nil {
		return noEndpoint(r)
	}
	sec, err := s.cfg.Webhooks.RotateSecret(r.Context(), u.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"secret": sec, "created_at": time.Now().UTC().Format(time.RFC3339)})
}

func (s *Server) jobDeliveries(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	if s.cfg.Webhooks == nil {
		return noEndpoint(r)
	}
	ds, err := s.cfg.Webhooks.Deliveries(r.Context(), u.ID, id)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []jobs.Delivery{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deliveries": ds})
}

// webhookView is a default webhook as the admin API shows it (null: none).
type webhookView struct {
	Webhook *jobs.Webhook `json:"webhook"`
}

func (s *Server) adminGetWebhook(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	u, err := s.auth.User(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if s.cfg.Webhooks == nil {
		return noEndpoint(r)
	}
	hook, err := s.cfg.Webhooks.Default(r.Context(), u.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, webhookView{hook})
}

func (s *Server) adminSetWebhook(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var body struct {
		URL    *string  `json:"url"`
		Events []string `json:"events"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	if body.URL == nil || *body.URL == "" {
		return jobs.Errorf(jobs.KindInvalid, "invalid_field", "url is required (DELETE clears the default webhook)")
	}
	return s.setWebhook(w, r, *body.URL, body.Events)
}

func (s *Server) adminDeleteWebhook(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	return s.setWebhook(w, r, "", nil)
}

func (s *Server) setWebhook(w http.ResponseWriter, r *http.Request, url string, events []string) error {
	u, err := s.auth.User(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if s.cfg.Webhooks == nil {
		return noEndpoint(r)
	}
	if len(url) > 2000 || !validText(url) {
		return jobs.Errorf(jobs.KindInvalid, "invalid_webhook_url", "url must be a URL of at most 2000 bytes")
	}
	hook, err := s.cfg.Webhooks.SetDefault(r.Context(), u.ID, url, events)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, webhookView{hook})
}
