package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/gitaccess/gitaccess/internal/forge"
)

// Classify turns a transport failure (no HTTP answer) into a
// *forge.UnreachableError naming the host and a short reason the operator
// can act on. Policy refusals, cancellation by the caller, and errors that
// are not transport failures are returned unchanged.
func Classify(host string, err error) error {
	if err == nil {
		return nil
	}
	orig := err
	var ue *url.Error
	fromClient := errors.As(err, &ue)
	if fromClient {
		err = ue.Err
	}
	var (
		blocked  *BlockedAddressError
		insecure *InsecureURLError
		tooLarge *ResponseTooLargeError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		recErr   tls.RecordHeaderError
		dnsErr   *net.DNSError
		opErr    *net.OpError
		netErr   net.Error
		held     *forge.RateLimitedError
	)
	reason := ""
	switch {
	case errors.Is(err, context.Canceled):
		// Checked first: a cancelled DNS lookup or dial is the caller's
		// decision, not an unreachable host.
		return orig
	case errors.As(err, &blocked), errors.As(err, &insecure):
		return orig
	case errors.As(err, &held):
		// gitaccess held the request back itself, the token's budget being
		// nearly spent (internal/forge/ratelimit): a throttle, not a
		// failure to reach the host.
		return held
	case errors.As(err, &tooLarge):
		return &forge.UnreachableError{Host: host, Reason: "the answer was larger than gitaccess accepts (" + tooLarge.Error() + ")", Err: err}
	case errors.As(err, &unknown):
		reason = "TLS: certificate signed by an unknown authority; give the CA bundle with --ca-file"
	case errors.As(err, &hostErr):
		reason = "TLS: " + hostErr.Error()
	case errors.As(err, &invalid):
		reason = "TLS: " + invalid.Error()
	case errors.As(err, &verify):
		reason = "TLS: " + verify.Err.Error()
	case errors.As(err, &recErr), errors.Is(err, http.ErrSchemeMismatch):
		reason = "TLS: the server did not answer with TLS (is it plain http?)"
	case errors.As(err, &dnsErr):
		reason = "DNS: " + dnsErr.Err
		if dnsErr.IsNotFound {
			reason = "DNS: no such host"
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "connection refused"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		reason = "timed out"
	case fromClient, errors.As(err, &opErr):
		reason = err.Error()
	default:
		return orig
	}
	return &forge.UnreachableError{Host: host, Reason: reason, Err: err}
}
