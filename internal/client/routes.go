package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// ListOptions bounds a listing that spans several pages.
type ListOptions struct {
	// Limit caps the number of items returned across all pages; 0 means all.
	Limit int
}

// maxPageSize is the largest page asked for at once when a limit is set.
const maxPageSize = 1000 // the API's largest page

type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// listAll follows next_cursor until the server has no more or limit items
// are in hand.
func listAll[T any](ctx context.Context, c *Client, path string, limit int) ([]T, error) {
	if limit < 0 {
		return nil, errors.New("limit must not be negative")
	}
	all := []T{}
	seen := map[string]bool{}
	cursor := ""
	for {
		q := url.Values{}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		// Walking everything asks for the largest pages: fewer round trips.
		q.Set("limit", strconv.Itoa(maxPageSize))
		if limit > 0 {
			q.Set("limit", strconv.Itoa(min(limit-len(all), maxPageSize)))
		}
		var p page[T]
		if err := c.do(ctx, http.MethodGet, path, q, nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if limit > 0 && len(all) >= limit {
			return all[:limit], nil
		}
		if p.NextCursor == "" {
			return all, nil
		}
		if seen[p.NextCursor] {
			return nil, fmt.Errorf("GET %s: server returned the same cursor twice", path)
		}
		seen[p.NextCursor] = true
		cursor = p.NextCursor
	}
}

// Whoami returns the caller the API key stands for.
func (c *Client) Whoami(ctx context.Context) (access.Principal, error) {
	var p access.Principal
	err := c.do(ctx, http.MethodGet, "/api/v1/whoami", nil, nil, &p)
	return p, err
}

// ListTokens lists the organization's tokens, following every page.
func (c *Client) ListTokens(ctx context.Context, opts ListOptions) ([]access.TokenView, error) {
	return listAll[access.TokenView](ctx, c, "/api/v1/tokens", opts.Limit)
}

// addTokenBody puts the revealed value on the wire: access.AddTokenInput
// redacts its Value when marshalled, and the shallower field wins.
type addTokenBody struct {
	access.AddTokenInput
	Value string `json:"value"`
}

// AddToken tests a token with its provider and saves it.
func (c *Client) AddToken(ctx context.Context, in access.AddTokenInput) (access.TokenResult, error) {
	var out access.TokenResult
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens", nil, addTokenBody{AddTokenInput: in, Value: in.Value.Reveal()}, &out)
	return out, err
}

type testValueBody struct {
	access.TestValueInput
	Value string `json:"value"`
}

// TestValue inspects a token value without saving anything.
func (c *Client) TestValue(ctx context.Context, in access.TestValueInput) (forge.Report, error) {
	var out forge.Report
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens/test", nil, testValueBody{TestValueInput: in, Value: in.Value.Reveal()}, &out)
	return out, err
}

// GetToken returns one saved token.
func (c *Client) GetToken(ctx context.Context, name string) (access.TokenView, error) {
	var out access.TokenView
	seg, err := pathSeg("token name", name)
	if err != nil {
		return out, err
	}
	err = c.do(ctx, http.MethodGet, "/api/v1/tokens/"+seg, nil, nil, &out)
	return out, err
}

type updateTokenBody struct {
	access.UpdateTokenInput
	Value *string `json:"value,omitempty"`
}

// UpdateToken changes a saved token; a new value is tested before it
// replaces the old one.
func (c *Client) UpdateToken(ctx context.Context, name string, in access.UpdateTokenInput) (access.TokenResult, error) {
	var out access.TokenResult
	seg, err := pathSeg("token name", name)
	if err != nil {
		return out, err
	}
	body := updateTokenBody{UpdateTokenInput: in}
	if in.Value != nil {
		v := in.Value.Reveal()
		body.Value = &v
	}
	err = c.do(ctx, http.MethodPatch, "/api/v1/tokens/"+seg, nil, body, &out)
	return out, err
}

// TestToken re-inspects a saved token and records the outcome.
func (c *Client) TestToken(ctx context.Context, name string) (access.TokenResult, error) {
	var out access.TokenResult
	seg, err := pathSeg("token name", name)
	if err != nil {
		return out, err
	}
	err = c.do(ctx, http.MethodPost, "/api/v1/tokens/"+seg+"/test", nil, nil, &out)
	return out, err
}

// ListOrgs lists the organizations the caller can see.
func (c *Client) ListOrgs(ctx context.Context) ([]access.OrgView, error) {
	return listAll[access.OrgView](ctx, c, "/api/v1/orgs", 0)
}

// newKeyWire is how a fresh key arrives; access.NewAPIKey does not decode
// its secret from JSON.
type newKeyWire struct {
	access.APIKeyView
	Org string `json:"org"`
	Key string `json:"key"`
}

func (w newKeyWire) apiKey() (access.NewAPIKey, error) {
	if w.Key == "" {
		return access.NewAPIKey{}, errors.New("server returned no key")
	}
	return access.NewAPIKey{APIKeyView: w.APIKeyView, Org: w.Org, Key: secret.New(w.Key)}, nil
}

// CreateOrg creates an organization and returns it with its first Owner
// key, the only time that key is shown.
func (c *Client) CreateOrg(ctx context.Context, name string) (access.OrgView, access.NewAPIKey, error) {
	var out struct {
		Org    access.OrgView `json:"org"`
		APIKey newKeyWire     `json:"api_key"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/orgs", nil, map[string]string{"name": name}, &out); err != nil {
		return access.OrgView{}, access.NewAPIKey{}, err
	}
	key, err := out.APIKey.apiKey()
	if err != nil {
		return access.OrgView{}, access.NewAPIKey{}, fmt.Errorf("POST /api/v1/orgs: %w", err)
	}
	return out.Org, key, nil
}

// ListAPIKeys lists the organization's API keys, without their secrets.
func (c *Client) ListAPIKeys(ctx context.Context) ([]access.APIKeyView, error) {
	return listAll[access.APIKeyView](ctx, c, "/api/v1/apikeys", 0)
}

// CreateAPIKey makes a key in the caller's organization; its secret is
// shown only in this answer.
func (c *Client) CreateAPIKey(ctx context.Context, name string, role store.Role) (access.NewAPIKey, error) {
	var out newKeyWire
	in := map[string]string{"name": name, "role": string(role)}
	if err := c.do(ctx, http.MethodPost, "/api/v1/apikeys", nil, in, &out); err != nil {
		return access.NewAPIKey{}, err
	}
	key, err := out.apiKey()
	if err != nil {
		return access.NewAPIKey{}, fmt.Errorf("POST /api/v1/apikeys: %w", err)
	}
	return key, nil
}

// RevokeAPIKey revokes a key by id.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) error {
	seg, err := pathSeg("API key id", id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, "/api/v1/apikeys/"+seg, nil, nil, nil)
}

// ListAudit lists audit records, newest first, following every page.
func (c *Client) ListAudit(ctx context.Context, opts ListOptions) ([]access.AuditView, error) {
	return listAll[access.AuditView](ctx, c, "/api/v1/audit", opts.Limit)
}
