// Package attack holds the Byzantine workers' behaviours for experiments
// with the rules of package robust, and the honest data splits (IID and
// Dirichlet non-IID) they are run on.
//
// An Attack is omniscient, as in the literature: at the aggregation point
// it sees the honest workers' vectors (and its own workers' honestly
// computed ones) and returns the f vectors the Byzantine workers send.
//
//	attack       sends (μ, σ: coordinate-wise mean and std of the honest vectors)
//	none         its own honest vectors
//	signflip     −μ
//	ipm          −ε·μ (inner-product manipulation, Xie et al. 2020)
//	alie         μ − z·σ ("A little is enough", Baruch et al. 2019)
//	gaussian     N(0, σ_g²) per coordinate
//	labelflip    its own vectors computed on labels y → C−1−y
//	adaptive     the IPM or ALIE vector whose scale maximises the distance
//	             of the rule's output from μ (the attacker knows the rule)
//
// ALIE's z: the paper's formula z = Φ⁻¹((n−f−s)/(n−f)) with s = ⌊n/2+1⌋−f
// gives z = 0 at n = 10, f = 2 (no attack at all); ALIE.Z overrides it and
// the experiment runner reports the z it used.
package attack
