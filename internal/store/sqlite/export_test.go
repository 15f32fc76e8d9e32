package sqlite

import "context"

// BareInsert creates a scratch table of bodies and returns a function that
// inserts one with a statement prepared on s's writer connection (the
// same connection, pragmas and file as RecordDelivery's): the floor
// RecordDelivery is measured against.
func BareInsert(ctx context.Context, s *Store) (func(ctx context.Context, body []byte) error, error) {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE bench_bodies (body BLOB) STRICT`); err != nil {
		return nil, err
	}
	stmt, err := s.w.PrepareContext(ctx, `INSERT INTO bench_bodies (body) VALUES (?)`)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, body []byte) error {
		_, err := stmt.ExecContext(ctx, body)
		return err
	}, nil
}
