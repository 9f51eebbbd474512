package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// KeyDist draws key indexes in [0, N()). Implementations are immutable after
// construction and safe for concurrent use with one *rand.Rand per goroutine.
type KeyDist interface {
	// Next returns a key index in [0, N()).
	Next(r *rand.Rand) uint64
	// N is the size of the key space.
	N() uint64
	// String describes the distribution as the -keys flag spells it.
	String() string
}

// NewKeyDist returns the distribution named by name over n keys:
// "uniform", "gaussian" (param = standard deviation as a fraction of n,
// 0 means 1/6: the mean is n/2) or "zipf" (param = exponent s > 0, 0 means
// 0.99; index 0 is the most popular key).
func NewKeyDist(name string, n uint64, param float64) (KeyDist, error) {
	if n == 0 {
		return nil, fmt.Errorf("bench: key space must hold at least one key")
	}
	switch name {
	case "uniform":
		return Uniform{n: n}, nil
	case "gaussian":
		if param == 0 {
			param = 1.0 / 6
		}
		if param < 0 || math.IsNaN(param) || math.IsInf(param, 0) {
			return nil, fmt.Errorf("bench: gaussian standard deviation %v must be > 0", param)
		}
		return Gaussian{n: n, mean: float64(n) / 2, stddev: param * float64(n)}, nil
	case "zipf":
		if param == 0 {
			param = 0.99
		}
		return NewZipf(n, param)
	}
	return nil, fmt.Errorf("bench: unknown key distribution %q (want uniform, gaussian or zipf)", name)
}

// Uniform draws every key with the same probability.
type Uniform struct{ n uint64 }

// Next implements KeyDist.
func (u Uniform) Next(r *rand.Rand) uint64 { return r.Uint64N(u.n) }

// N implements KeyDist.
func (u Uniform) N() uint64 { return u.n }

func (u Uniform) String() string { return "uniform" }

// Gaussian draws keys from a normal distribution centred on the middle of the
// key space; draws that fall outside the space are redrawn.
type Gaussian struct {
	n            uint64
	mean, stddev float64
}

// Next implements KeyDist.
func (g Gaussian) Next(r *rand.Rand) uint64 {
	for {
		x := math.Floor(g.mean + g.stddev*r.NormFloat64())
		if x >= 0 && x < float64(g.n) {
			return uint64(x)
		}
	}
}

// N implements KeyDist.
func (g Gaussian) N() uint64 { return g.n }

func (g Gaussian) String() string {
	return fmt.Sprintf("gaussian(sd=%.3g)", g.stddev/float64(g.n))
}

// Zipf draws key k (0-based) with probability proportional to 1/(k+1)^s.
// It uses the rejection-inversion method of Hörmann and Derflinger ("Rejection-
// inversion to generate variates from monotone discrete distributions",
// 1996), which needs no table and is valid for every s > 0, including the
// s < 1 that math/rand's Zipf refuses.
type Zipf struct {
	n                       uint64
	s                       float64
	hIntegralX1, hIntegralN float64
	threshold               float64
}

// NewZipf returns a Zipf distribution over n keys with exponent s > 0.
func NewZipf(n uint64, s float64) (*Zipf, error) {
	if n == 0 {
		return nil, fmt.Errorf("bench: key space must hold at least one key")
	}
	if !(s > 0) || math.IsInf(s, 0) {
		return nil, fmt.Errorf("bench: zipf exponent %v must be > 0", s)
	}
	z := &Zipf{n: n, s: s}
	z.hIntegralX1 = z.hIntegral(1.5) - 1
	z.hIntegralN = z.hIntegral(float64(n) + 0.5)
	z.threshold = 2 - z.hIntegralInverse(z.hIntegral(2.5)-z.h(2))
	return z, nil
}

// Next implements KeyDist.
func (z *Zipf) Next(r *rand.Rand) uint64 {
	for {
		u := z.hIntegralN + r.Float64()*(z.hIntegralX1-z.hIntegralN)
		x := z.hIntegralInverse(u)
		k := math.Floor(x + 0.5)
		if k < 1 {
			k = 1
		} else if k > float64(z.n) {
			k = float64(z.n)
		}
		if k-x <= z.threshold || u >= z.hIntegral(k+0.5)-z.h(k) {
			return uint64(k) - 1
		}
	}
}

// N implements KeyDist.
func (z *Zipf) N() uint64 { return z.n }

func (z *Zipf) String() string { return fmt.Sprintf("zipf(s=%g)", z.s) }

// Exponent returns s.
func (z *Zipf) Exponent() float64 { return z.s }

// h is the unnormalised probability 1/x^s.
func (z *Zipf) h(x float64) float64 { return math.Exp(-z.s * math.Log(x)) }

// hIntegral is H(x) = (x^(1-s) - 1)/(1-s), or log(x) when s = 1, computed so
// it stays accurate near s = 1.
func (z *Zipf) hIntegral(x float64) float64 {
	logX := math.Log(x)
	return helper2((1-z.s)*logX) * logX
}

// hIntegralInverse is the inverse of hIntegral.
func (z *Zipf) hIntegralInverse(x float64) float64 {
	t := x * (1 - z.s)
	if t < -1 {
		t = -1 // numerical safety: the true value is never below -1
	}
	return math.Exp(helper1(t) * x)
}

// helper1 is log(1+x)/x, accurate near 0.
func helper1(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Log1p(x) / x
	}
	return 1 - x*(0.5-x*(1.0/3-0.25*x))
}

// helper2 is (exp(x)-1)/x, accurate near 0.
func helper2(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Expm1(x) / x
	}
	return 1 + x*0.5*(1+x*(1.0/3)*(1+0.25*x))
}
