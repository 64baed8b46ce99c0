package events

// HealthBucket holds one key per incident (kind and subject hashed, times, open or ended), so
// replicas announce each incident once. No member data.
func (n Names) HealthBucket() string { return n.prefix + "RELAIS_HEALTH" }
