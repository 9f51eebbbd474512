//go:build !race

package lru

const raceEnabled = false
