package gitx

// FetchWaiters reports how many callers wait on the fetch under way for
// repoURL, so a test can release a fetch once every caller has joined it.
func (m *Mirrors) FetchWaiters(repoURL string) int {
	_, key, err := NormalizeURL(repoURL)
	if err != nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[mirrorName(key)]; e != nil && e.fetch != nil {
		return e.fetch.waiters
	}
	return 0
}
