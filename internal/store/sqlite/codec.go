package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// timeLayout is fixed-width so that text order is time order (the audit
// cursor compares timestamps as text) and keeps exactly microseconds.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// fmtTimePtr maps nil to NULL.
func fmtTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return fmtTime(*t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

func parseTimePtr(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// orNow stamps a zero required timestamp with the store's clock.
func (s *Store) orNow(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}

func encodeList(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// decodeList reads an empty list as nil, so nil and empty round-trip alike.
func decodeList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("stored list: %w", err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// blob maps empty to NULL, so nil and empty round-trip alike.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// jsonText binds a JSON document to a STRICT TEXT column (a []byte would be
// a BLOB there); empty is NULL.
func jsonText(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// nullString maps empty to NULL (an unset reference).
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
