package postgres

import (
	"encoding/json"
	"fmt"
)

func encodeList(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// decodeList reads an empty list as nil, so nil and empty round-trip alike.
func decodeList(b []byte) ([]string, error) {
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("stored list: %w", err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// nullIfEmpty maps empty to NULL, so nil and empty round-trip alike.
func nullIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nullString maps empty to NULL (an unset reference).
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
