package api

import (
	"net/http"

	"github.com/aijobs/aijobs/jobs"
)

func (s *Server) cable(w http.ResponseWriter, r *http.Request) error {
	return jobs.Errorf(jobs.KindNotFound, "not_found", "not yet")
}
