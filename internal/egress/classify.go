package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"syscall"

	"github.com/gitaccess/gitaccess/internal/forge"
)

// Classify turns a transport failure (no HTTP answer) into a
// *forge.UnreachableError naming the host and a short reason. Errors that
// are not transport failures are returned unchanged.
func Classify(host string, err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
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
		netErr   net.Error
	)
	reason := ""
	switch {
	case errors.As(err, &blocked), errors.As(err, &insecure):
		return err
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
	case errors.As(err, &recErr):
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
	case errors.Is(err, context.Canceled):
		return err
	default:
		reason = err.Error()
	}
	return &forge.UnreachableError{Host: host, Reason: reason, Err: err}
}
