package api

// The ActionCable-compatible WebSocket: GET /cable speaks the
// actioncable-v1-json subprotocol of @rails/actioncable (see
// shared/ACTIONCABLE.md), with one channel, AiJobChannel, whose messages are
// job snapshots. Each connection has:
//   - the handler's goroutine, which reads and dispatches client frames;
//   - one writer goroutine, the only one that writes to the socket: it sends
//     the queued frames (welcome, rejections), the feeds' confirmations and
//     snapshots, a ping every Config.CablePing (taken before anything else,
//     so pings never wait behind data), and the disconnect on server
//     shutdown or when the credential ends;
//   - one goroutine per feed: the subscriptions of a connection to one job,
//     or to all of the user's jobs, share one feed (cable_conn.go), which
//     follows through jobs.Service and keeps the latest snapshot of each job.
//
// Every subscription holds one of the user's stream slots (--max-streams),
// as the connection itself does. Snapshots are sent within the user's frame
// budget (cableFrameRate); above it, and for a client that reads slowly,
// they coalesce: a subscription gets the latest snapshot of each job. The
// queue of other frames is bounded: a client that leaves it full, or a write
// blocked, for longer than the write timeout is too slow and is
// disconnected (it reconnects, resubscribes and gets the current snapshot,
// so it loses nothing).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/aijobs/aijobs/aside"
	"github.com/aijobs/aijobs/auth"
	"github.com/aijobs/aijobs/jobs"
)

const (
	// cableProtocol is the only WebSocket subprotocol /cable speaks.
	cableProtocol = "actioncable-v1-json"
	// cableChannel is the only channel.
	cableChannel = "AiJobChannel"
	// cableQueue is how many frames other than the feeds' (welcome,
	// rejections) may wait for a slow client.
	cableQueue = 64
	// cableReadLimit is the largest client frame accepted.
	cableReadLimit = 64 << 10
	// cableMaxSubs caps the subscriptions of one connection.
	cableMaxSubs = 100
	// cableMaxJobs is how many jobs a feed of all of a user's jobs
	// remembers before it forgets the finished ones already sent.
	cableMaxJobs = 10000
)

// errCableSlow ends a connection whose client does not read fast enough.
var errCableSlow = errors.New("cable client too slow")

// cableFrame is one client → server frame.
type cableFrame struct {
	// Command is subscribe, unsubscribe or message.
	Command string
	// Identifier is the identifier's decoded string (a JSON document).
	Identifier string
	// RawIdentifier is the identifier's JSON string literal exactly as
	// received, echoed in every frame about this subscription so that the
	// client's byte-for-byte routing matches.
	RawIdentifier json.RawMessage
	// Data is the data of a message command.
	Data string
}

// parseCableFrame parses one client frame. It never panics; an error means
// the frame is malformed as a whole and cannot be answered.
func parseCableFrame(b []byte) (cableFrame, error) {
	var f struct {
		Command    *string         `json:"command"`
		Identifier json.RawMessage `json:"identifier"`
		Data       json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return cableFrame{}, errors.New("frame is not a JSON object")
	}
	if f.Command == nil {
		return cableFrame{}, errors.New("frame has no command")
	}
	out := cableFrame{Command: *f.Command}
	raw := bytes.TrimSpace(f.Identifier)
	if len(raw) == 0 || raw[0] != '"' {
		return cableFrame{}, errors.New("identifier must be a string")
	}
	if !utf8.Valid(raw) {
		// Echoed as is, it would make an invalid text frame.
		return cableFrame{}, errors.New("identifier is not valid UTF-8")
	}
	if err := json.Unmarshal(raw, &out.Identifier); err != nil {
		return cableFrame{}, errors.New("identifier must be a string")
	}
	out.RawIdentifier = append(json.RawMessage(nil), raw...)
	if d := bytes.TrimSpace(f.Data); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		if err := json.Unmarshal(d, &out.Data); err != nil {
			return cableFrame{}, errors.New("data must be a string")
		}
	}
	return out, nil
}

// parseCableIdentifier reads a subscription identifier: a JSON object with
// "channel": "AiJobChannel" and an optional string "job_id" (absent or null:
// all of the user's jobs). Other keys are ignored.
func parseCableIdentifier(id string) (jobID string, err error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(id), &v); err != nil || v == nil {
		return "", errors.New("identifier is not a JSON object")
	}
	var channel string
	if err := json.Unmarshal(v["channel"], &channel); err != nil || channel != cableChannel {
		return "", errors.New("unknown channel")
	}
	raw, ok := v["job_id"]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return "", nil
	}
	if err := json.Unmarshal(raw, &jobID); err != nil || jobID == "" {
		return "", errors.New("job_id must be a non-empty string")
	}
	return jobID, nil
}

// Server → client frames.
var (
	cableWelcome       = []byte(`{"type":"welcome"}`)
	cableUnauthorized  = []byte(`{"type":"disconnect","reason":"unauthorized","reconnect":false}`)
	cableTooMany       = []byte(`{"type":"disconnect","reason":"too_many_streams","reconnect":true}`)
	cableServerRestart = []byte(`{"type":"disconnect","reason":"server_restart","reconnect":true}`)
)

func cablePingFrame(t time.Time) []byte {
	return []byte(`{"type":"ping","message":` + strconv.FormatInt(t.Unix(), 10) + `}`)
}

func cableTypeFrame(rawID json.RawMessage, typ string) []byte {
	b := make([]byte, 0, len(rawID)+48)
	b = append(b, `{"identifier":`...)
	b = append(b, rawID...)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	return append(b, `"}`...)
}

// cableRejectFrame is a reject_subscription with the reason (which
// @rails/actioncable ignores; other clients may show it).
func cableRejectFrame(rawID json.RawMessage, reason string) []byte {
	b := make([]byte, 0, len(rawID)+len(reason)+64)
	b = append(b, `{"identifier":`...)
	b = append(b, rawID...)
	b = append(b, `,"type":"reject_subscription","reason":"`...)
	b = append(b, reason...)
	return append(b, `"}`...)
}

func cableDataFrame(rawID json.RawMessage, msg []byte) []byte {
	b := make([]byte, 0, len(rawID)+len(msg)+28)
	b = append(b, `{"identifier":`...)
	b = append(b, rawID...)
	b = append(b, `,"message":`...)
	b = append(b, msg...)
	return append(b, '}')
}

// cableOriginAllowed reports whether a WebSocket from this Origin may
// connect: no Origin (not a browser), the request's own host, or one of
// Config.AllowedOrigins — "*", a full origin ("https://app.example.com") or a
// bare host ("app.example.com:8443").
func (s *Server) cableOriginAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return s.originAllowed(origin)
}

// offersCableProtocol reports whether the client offered actioncable-v1-json.
func offersCableProtocol(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), cableProtocol) {
				return true
			}
		}
	}
	return false
}

// cableAuth authenticates a /cable request: an API token in the
// Authorization header, or a stream token in ?token= (never an API token in
// a URL). scope is the one job a job-scoped stream token allows ("" for any
// of the user's jobs).
func (s *Server) cableAuth(r *http.Request) (p auth.Principal, scope string, err error) {
	if r.Header.Get("Authorization") != "" {
		p, err := s.user(r)
		return p, "", err
	}
	tok := r.URL.Query().Get("token")
	if tok == "" {
		return auth.Principal{}, "", jobs.ErrUnauthorized
	}
	a, err := s.auth.VerifyStreamToken(r.Context(), tok)
	if err != nil {
		return auth.Principal{}, "", err
	}
	return a.Principal, a.JobID, nil
}

// isUpgrade reports whether r asks for a WebSocket.
func isUpgrade(r *http.Request) bool {
	return r.ProtoAtLeast(1, 1) && headerHasToken(r, "Connection", "upgrade") && headerHasToken(r, "Upgrade", "websocket")
}

// checkHandshake refuses, as the API's JSON error, a malformed WebSocket
// handshake (400 bad_handshake), which websocket.Accept would refuse with a
// plain-text body.
func checkHandshake(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return jobs.Errorf(jobs.KindMalformed, "bad_handshake", "only WebSocket version 13 is supported")
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.Join(keys, ""))); len(keys) != 1 || err != nil || len(k) != 16 {
		return jobs.Errorf(jobs.KindMalformed, "bad_handshake", "Sec-WebSocket-Key must be one base64-encoded 16-byte value")
	}
	return nil
}

// headerHasToken reports whether a comma-separated header has token
// (case-insensitive).
func headerHasToken(r *http.Request, name, token string) bool {
	for _, v := range r.Header.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// cable serves GET /cable. Refusals that can be answered in HTTP are: not a
// WebSocket handshake (426 upgrade_required, or 400 bad_handshake), an Origin
// that is not allowed (403 origin_not_allowed), a client that does not offer
// actioncable-v1-json (400 unsupported_protocol) and a store that cannot
// check the token (503 store_unavailable, so that the client retries). A bad
// token, or too many streams, is answered the ActionCable way, after the
// upgrade, with a disconnect frame ("unauthorized", no reconnect;
// "too_many_streams", reconnect), so that the client does (or does not)
// retry accordingly; so is a credential revoked or expired while the
// connection is open ("unauthorized"). After the upgrade nothing is written but WebSocket
// frames: errors are logged.
func (s *Server) cable(w http.ResponseWriter, r *http.Request) error {
	if !isUpgrade(r) {
		// websocket.Accept would answer this in plain text.
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		return writeJSON(w, http.StatusUpgradeRequired, map[string]string{"error": "/cable is a WebSocket: send an HTTP/1.1 upgrade request (Connection: Upgrade, Upgrade: websocket)", "code": "upgrade_required"})
	}
	if err := checkHandshake(w, r); err != nil {
		return err
	}
	if !s.cableOriginAllowed(r) {
		return writeJSON(w, http.StatusForbidden, map[string]string{"error": "this Origin may not open /cable (see --allowed-origins)", "code": "origin_not_allowed"})
	}
	if !offersCableProtocol(r) {
		return jobs.Errorf(jobs.KindMalformed, "unsupported_protocol", "/cable is a WebSocket speaking the %s subprotocol; offer it in Sec-WebSocket-Protocol", cableProtocol)
	}
	var (
		p       auth.Principal
		scope   string
		authErr error
	)
	// Aside, so that this goroutine, the connection's reader for hours,
	// keeps a small stack.
	aside.Do(func() error { p, scope, authErr = s.cableAuth(r); return nil })
	userID := p.ID
	if p := jobs.ProblemOf(authErr); p != nil && p.Kind == jobs.KindUnavailable {
		// Not the client's fault: "unauthorized" would stop it for good.
		return authErr
	}
	// The request context must not be used once the connection is
	// hijacked; the connection has its own, ended by its goroutines.
	base := context.WithoutCancel(r.Context())
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{cableProtocol}, InsecureSkipVerify: true})
	if err != nil {
		return nil // Accept has answered
	}
	// http.Server.Shutdown does not wait for hijacked connections: Wait does.
	s.hijacked.Add(1)
	defer s.hijacked.Done()
	ws.SetReadLimit(cableReadLimit)
	if ws.Subprotocol() != cableProtocol {
		ws.Close(websocket.StatusPolicyViolation, "subprotocol "+cableProtocol+" required")
		return nil
	}
	if authErr != nil {
		cableRefuse(base, ws, cableUnauthorized, websocket.StatusPolicyViolation, "unauthorized")
		return nil
	}
	release, err := s.openStream(userID, StreamCable)
	if err != nil {
		cableRefuse(base, ws, cableTooMany, websocket.StatusTryAgainLater, "too many streams")
		return nil
	}
	defer release()
	// The connection is told "unauthorized" and closed, within about a
	// second, when p's credential is revoked or expires.
	held, unhold := s.auth.Hold(base, p)
	defer unhold()
	ctx, cancel := context.WithCancelCause(base)
	c := &cableConn{s: s, ws: ws, userID: userID, scope: scope, ctx: ctx, cancel: cancel, authEnded: held.Done(),
		out: make(chan []byte, cableQueue), ready: make(chan struct{}, 1),
		subs: map[string]*cableSub{}, feeds: map[string]*cableFeed{},
		writeTimeout: max(2*s.cfg.CablePing, 5*time.Second)}
	c.serve()
	return nil
}

// cableRefuse sends one disconnect frame and closes.
func cableRefuse(ctx context.Context, ws *websocket.Conn, frame []byte, code websocket.StatusCode, reason string) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := ws.Write(wctx, websocket.MessageText, frame); err != nil {
		ws.CloseNow()
		return
	}
	ws.Close(code, reason)
}
