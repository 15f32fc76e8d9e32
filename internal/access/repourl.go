package access

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// NormalizeRepoURL gives a repository URL one spelling, so prefixes,
// applications and webhooks compare equal: lowercase scheme and host, no
// credentials, query or fragment, no ".git", no trailing slash.
func NormalizeRepoURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errorf(KindInvalid, "repository: %q is not a repository URL; give it as https://HOST/OWNER/NAME", redactURL(raw))
	}
	if u.User != nil {
		return "", errorf(KindInvalid, "repository: the URL carries credentials; give it without them, gitaccess supplies the token")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errorf(KindInvalid, "repository: %s has a query or fragment; give the plain repository URL", u.Host+u.Path)
	}
	p := path.Clean("/" + u.Path)
	p = strings.TrimSuffix(strings.TrimSuffix(p, "/"), ".git")
	if p == "" || p == "/" {
		return "", errorf(KindInvalid, "repository: %s names a host, not a repository", u.Host)
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + p, nil
}

// normalizePrefix turns what a user typed into a prefix ending in "/" on
// the token's own host, so https://github.com/acme/ never matches
// https://github.com/acme-other/.
func normalizePrefix(raw, webURL string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errorf(KindInvalid, "prefix: %q is not a URL prefix; give it as https://HOST/OWNER/ (no credentials, query or fragment)", redactURL(raw))
	}
	web, err := url.Parse(webURL)
	if err != nil {
		return "", fmt.Errorf("token web URL %q: %w", webURL, err)
	}
	if !strings.EqualFold(u.Host, web.Host) || !strings.EqualFold(u.Scheme, web.Scheme) {
		return "", errorf(KindInvalid, "prefix: %s is not on this token's host %s", u.Scheme+"://"+u.Host, web.Scheme+"://"+web.Host)
	}
	p := path.Clean("/" + u.Path)
	p = strings.TrimSuffix(p, ".git")
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	root := strings.TrimSuffix(path.Clean("/"+web.Path), "/") + "/"
	if !strings.HasPrefix(p, root) {
		return "", errorf(KindInvalid, "prefix: %s is outside this token's server %s", u.Host+p, webURL)
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + p, nil
}

// redactURL hides user info before a URL is quoted back.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if strings.Contains(raw, "@") {
			return "(a URL with credentials)"
		}
		return raw
	}
	u.User = url.User("REDACTED")
	return u.String()
}
