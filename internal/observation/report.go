package observation

// ReportResult is the cmdb's answer to a batch of observations (the GraphQL mutation
// reportObservations). The answer comes only after every accepted observation is
// persisted, so a collector may drop what was acknowledged.
type ReportResult struct {
	// Accepted counts observations applied now, or judged stale (older than what the
	// asset's channel already holds: nothing to change, nothing lost).
	Accepted int `json:"accepted"`
	// Duplicates counts observations whose id was applied before (a replay).
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected"`
	// AssetIDs is the asset each observation was applied to, in batch order ("" for a
	// rejected one), so a collector can label its per-device metrics.
	AssetIDs []string `json:"assetIds"`
}

// Rejection says why one observation was refused; resending it would be refused again.
type Rejection struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}
