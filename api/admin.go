package api

// The admin API, under /api/v1/admin/: users with their quotas and usage,
// their tokens, and any user's jobs. Only an admin credential (an API token
// made with --admin, or a JWT with the admin claim) reaches it; to anyone
// else — no credential, a bad one, a user's — every admin path answers
// exactly as a path that does not exist (404 not_found), so that it does not
// even say that it is there.

import (
	"net/http"
	"strconv"
	"time"

	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/jobs"
)

func (s *Server) adminRoutes() []route {
	return []route{
		{"GET", "/api/v1/admin/users", s.admin(s.adminUsers)},
		{"GET", "/api/v1/admin/users/{id}", s.admin(s.adminUser)},
		{"PATCH", "/api/v1/admin/users/{id}", s.admin(s.adminSetQuota)},
		{"GET", "/api/v1/admin/users/{id}/tokens", s.admin(s.adminTokens)},
		{"POST", "/api/v1/admin/users/{id}/tokens", s.admin(s.adminCreateToken)},
		{"DELETE", "/api/v1/admin/tokens/{id}", s.admin(s.adminRevoke)},
		{"GET", "/api/v1/admin/users/{id}/jobs", s.admin(s.adminUserJobs)},
		{"GET", "/api/v1/admin/jobs/{id}", s.admin(s.adminJob)},
		{"GET", "/api/v1/admin/stats", s.admin(s.adminStats)},
		{"GET", "/api/v1/admin/users/{id}/webhook", s.admin(s.adminGetWebhook)},
		{"PUT", "/api/v1/admin/users/{id}/webhook", s.admin(s.adminSetWebhook)},
		{"DELETE", "/api/v1/admin/users/{id}/webhook", s.admin(s.adminDeleteWebhook)},
	}
}

// admin lets only admin credentials through; anyone else gets the answer
// of a path that does not exist. A credential that cannot be checked (the
// store is down) gets it too: an admin path must not answer differently.
func (s *Server) admin(h func(http.ResponseWriter, *http.Request, auth.Principal) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.user(r)
		if err != nil || !p.Admin {
			return noEndpoint(r)
		}
		return h(w, r, p)
	}
}

// adminUserView is a user as the admin API shows it.
type adminUserView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	DailyQuota int64      `json:"daily_quota"`
	Weight     int64      `json:"weight"`
	Usage      jobs.Usage `json:"usage"`
}

func (s *Server) userView(r *http.Request, u jobs.User) (adminUserView, error) {
	usage, err := s.svc.Usage(r.Context(), u)
	if err != nil {
		return adminUserView{}, err
	}
	return adminUserView{ID: u.ID, Name: u.Name, DailyQuota: u.DailyQuota, Weight: u.Weight, Usage: usage}, nil
}

// writeUser answers with the admin's view of u.
func (s *Server) writeUser(w http.ResponseWriter, r *http.Request, u jobs.User) error {
	v, err := s.userView(r, u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// tokenView is a token as the admin API shows it; Token (the secret) only
// in the answer that creates it.
type tokenView struct {
	auth.Token
	Status string `json:"status"`
	Secret string `json:"token,omitempty"`
}

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return jobs.Errorf(jobs.KindInvalid, "invalid_field", "limit must be between 1 and 100")
		}
		limit = n
	}
	users, err := s.auth.Users(r.Context(), q.Get("cursor"), limit+1)
	if err != nil {
		return err
	}
	var next *string
	if len(users) > limit {
		users = users[:limit]
		next = &users[limit-1].Name
	}
	views := make([]adminUserView, len(users))
	for i, u := range users {
		if views[i], err = s.userView(r, u); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"users": views, "next_cursor": next})
}

func (s *Server) adminUser(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	u, err := s.auth.User(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeUser(w, r, u)
}

func (s *Server) adminSetQuota(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var body struct {
		DailyQuota *int64 `json:"daily_quota"`
		Weight     *int64 `json:"weight"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	if body.DailyQuota == nil && body.Weight == nil {
		return jobs.Errorf(jobs.KindInvalid, "invalid_field", "daily_quota or weight is required")
	}
	var u jobs.User
	var err error
	if body.Weight != nil {
		if u, err = s.auth.SetWeight(r.Context(), r.PathValue("id"), *body.Weight); err != nil {
			return err
		}
	}
	if body.DailyQuota != nil {
		if u, err = s.auth.SetQuota(r.Context(), r.PathValue("id"), *body.DailyQuota); err != nil {
			return err
		}
	}
	return s.writeUser(w, r, u)
}

func (s *Server) adminTokens(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	u, err := s.auth.User(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ts, err := s.auth.Tokens(r.Context(), u.ID)
	if err != nil {
		return err
	}
	now := time.Now()
	views := make([]tokenView, len(ts))
	for i, t := range ts {
		views[i] = tokenView{Token: t, Status: t.Status(now)}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tokens": views})
}

func (s *Server) adminCreateToken(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var body struct {
		Name      *string `json:"name"`
		ExpiresIn *string `json:"expires_in"`
		Admin     *bool   `json:"admin"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	var nt auth.NewToken
	if body.Name != nil {
		nt.Name = *body.Name
	}
	if body.ExpiresIn != nil && *body.ExpiresIn != "" {
		ttl, err := auth.ParseTTL(*body.ExpiresIn)
		if err != nil {
			return jobs.Errorf(jobs.KindInvalid, "invalid_field", "expires_in: want a number of days (90d) or a duration (12h, 30m), positive and at most 100 years")
		}
		nt.TTL = ttl
	}
	if body.Admin != nil {
		nt.Admin = *body.Admin
	}
	secret, t, err := s.auth.CreateToken(r.Context(), r.PathValue("id"), nt)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, tokenView{Token: t, Status: t.Status(time.Now()), Secret: secret})
}

func (s *Server) adminRevoke(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	t, err := s.auth.Revoke(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, tokenView{Token: t, Status: t.Status(time.Now())})
}

// adminJobView is a job as the admin API shows it: the snapshot and its
// owner (no stream token: those are the owner's).
type adminJobView struct {
	jobs.Job
	UserID string `json:"user_id"`
}

func (s *Server) adminUserJobs(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	u, err := s.auth.User(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeJobs(w, r, u.ID, func(j jobs.Job) any { return adminJobView{Job: j, UserID: j.UserID} })
}

func (s *Server) adminJob(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	id, err := pathJobID(r)
	if err != nil {
		return err
	}
	j, err := s.svc.Find(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, adminJobView{Job: j, UserID: j.UserID})
}

// adminStats serves the operator page's data: Config.Stats's snapshot (see
// metrics.Stats for what it holds and over which nodes).
func (s *Server) adminStats(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if s.cfg.Stats == nil {
		return noEndpoint(r)
	}
	v, err := s.cfg.Stats.Snapshot(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}
