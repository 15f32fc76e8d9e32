package forge

// Verdict is the status a check's findings give: anything missing wins,
// then anything unproven; otherwise the token is fit for the use. Every
// adapter judges its checks with it, so a report's statuses mean the same
// whatever the provider.
func (c UseCheck) Verdict() CheckStatus {
	switch {
	case len(c.Missing) > 0:
		return CheckMissing
	case len(c.Unknown) > 0:
		return CheckUnknown
	}
	return CheckOK
}
