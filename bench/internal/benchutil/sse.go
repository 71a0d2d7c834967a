package benchutil

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// SSEEvent is one Server-Sent Event as received, with the time its data line
// was read.
type SSEEvent struct {
	ID   string
	Data string
	At   time.Time
}

// SSEStream is an open event stream.
type SSEStream struct {
	resp *http.Response
	r    *bufio.Reader
}

// OpenSSE opens url (GET) with the given headers and checks the 200 and
// content type. The stream is read with Next; Close ends it.
func OpenSSE(ctx context.Context, c *http.Client, url string, headers map[string]string) (*SSEStream, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		return nil, fmt.Errorf("open %s: status %d: %s", url, resp.StatusCode, b[:n])
	}
	return &SSEStream{resp: resp, r: bufio.NewReaderSize(resp.Body, 4096)}, nil
}

// Next returns the next event (comments and retry lines are skipped).
func (s *SSEStream) Next() (SSEEvent, error) {
	var ev SSEEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if ev.Data != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, "id:"):
			ev.ID = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "data:"):
			ev.At = time.Now()
			ev.Data += strings.TrimPrefix(line[5:], " ")
		}
	}
}

// Close ends the stream.
func (s *SSEStream) Close() { s.resp.Body.Close() }

// ManyConnClient is an HTTP client whose connections come from several
// loopback source addresses (127.0.0.1 … 127.0.0.n), so that tens of
// thousands of connections to one server do not run out of ephemeral ports.
func ManyConnClient(sources int) *http.Client {
	var next atomic.Int64
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		n := next.Add(1)
		d := net.Dialer{Timeout: 30 * time.Second}
		if sources > 1 {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+n%int64(sources)))}
		}
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: &http.Transport{
		DialContext: dial, MaxIdleConnsPerHost: -1, DisableKeepAlives: false, DisableCompression: true,
		ResponseHeaderTimeout: 60 * time.Second,
	}}
}
