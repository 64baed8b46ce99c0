//go:build cluster && race

package main

// clusterRace: the test runs under the race detector, so the relais it starts does too.
const clusterRace = true
