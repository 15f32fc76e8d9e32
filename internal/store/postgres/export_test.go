package postgres

import "context"

// BareInsert creates a scratch table of bodies and returns a function that
// inserts one through s's pool (the same connections and settings as
// RecordDelivery): the floor RecordDelivery is measured against.
func BareInsert(ctx context.Context, s *Store) (func(ctx context.Context, body []byte) error, error) {
	if _, err := s.pool.Exec(ctx, `CREATE TABLE bench_bodies (body bytea)`); err != nil {
		return nil, err
	}
	return func(ctx context.Context, body []byte) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO bench_bodies (body) VALUES ($1)`, body)
		return err
	}, nil
}
