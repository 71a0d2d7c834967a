package api

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aijobs/aijobs/jobs"
)

// Bytes the database would reject never reach it: PostgreSQL refuses NUL
// bytes and invalid UTF-8 in text (SQLSTATE 22021), which without these
// checks would be a 500 on one driver and stored garbage on the other. What
// comes from a client and may go to the store is checked here, before any
// store call: path ids (pathJobID), query values (checkQuery, for every
// route but ?token=), the body (decodeBody refuses a body that is not
// UTF-8), the Authorization header (bearer). Body strings and Idempotency-Key are checked
// by jobs.Service.Submit, for every transport.

// validText reports whether s can go to either database as text: valid
// UTF-8 without NUL bytes.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// maxJobID bounds the length of something that may be a job id.
const maxJobID = 64

// validJobID reports whether id can be a job id: "job_" and lowercase
// letters and digits (the ids made are "job_" and 26 characters of
// lowercase base32).
func validJobID(id string) bool {
	rest, ok := strings.CutPrefix(id, "job_")
	if !ok || rest == "" || len(id) > maxJobID {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// pathJobID returns the job id of the request's path. An id that cannot
// exist is not found, without asking the store.
func pathJobID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !validJobID(id) {
		return "", jobs.ErrNotFound
	}
	return id, nil
}

// checkQuery refuses a query string whose names or values are not valid
// text: 422 invalid_field, naming the parameter. A stream token (?token=)
// is left to its check: it never reaches the store (it is verified by its
// signature), and one that is not text is a bad credential like any other
// (401, or ActionCable's "unauthorized").
func checkQuery(r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	for k, vs := range r.URL.Query() {
		if k == "token" {
			continue
		}
		if !validText(k) {
			return jobs.Errorf(jobs.KindInvalid, "invalid_field", "query parameter %s is not valid UTF-8 text without NUL bytes", strconv.QuoteToASCII(k))
		}
		for _, v := range vs {
			if !validText(v) {
				return jobs.Errorf(jobs.KindInvalid, "invalid_field", "query parameter %q must be valid UTF-8 text without NUL bytes", k)
			}
		}
	}
	return nil
}
