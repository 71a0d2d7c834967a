package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Targets decides which URLs deliveries may go to: http and https only, and
// — unless AllowPrivate — no loopback, private, link-local, unspecified,
// multicast or shared (CGNAT) address. The check that counts is on the
// address being dialled (after DNS, so a name that resolves to a private
// address, or is rebound to one later, is refused); CheckURL refuses the
// obvious cases at submit.
type Targets struct {
	AllowPrivate bool
}

// errPrivate is a target that resolves to an address deliveries may not go to.
var errPrivate = errors.New("the target address is private, loopback or link-local")

// CheckURL checks a webhook URL at submit: its form and, when its host is
// an IP address (or localhost), that address.
func (t Targets) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an http or https URL")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("must name a host")
	case u.User != nil:
		return errors.New("must not carry credentials (user:password@)")
	case u.Fragment != "":
		return errors.New("must not have a fragment")
	}
	if t.AllowPrivate {
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return errPrivate
	}
	if ip, err := netip.ParseAddr(host); err == nil && !public(ip) {
		return errPrivate
	}
	return nil
}

var (
	sharedRange = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	broadcast   = netip.MustParseAddr("255.255.255.255")
)

// public reports whether ip is an address deliveries may go to.
func public(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsLinkLocalUnicast() && !ip.IsLinkLocalMulticast() &&
		!ip.IsInterfaceLocalMulticast() && !ip.IsMulticast() && !ip.IsUnspecified() &&
		!sharedRange.Contains(ip) && !thisNetwork.Contains(ip) && ip != broadcast
}

// control is the dialer's Control: it runs on the resolved address of every
// connection, just before connecting.
func (t Targets) control(_, address string, _ syscall.RawConn) error {
	if t.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if !public(ap.Addr()) {
		return fmt.Errorf("%w (%s)", errPrivate, ap.Addr())
	}
	return nil
}

// client returns the HTTP client of deliveries: no proxy (it would dial for
// us, past the check), no redirects followed, timeout per try.
func (t Targets) client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Control: t.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
