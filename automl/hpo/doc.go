// Package hpo is hyperparameter optimisation with a define-by-run study
// API in the manner of Optuna (course module 5, part 1).
//
// An objective receives a *Trial and asks it for values as it goes —
// SuggestFloat (Log(), Step(s)), SuggestInt, SuggestCategorical — so the
// search space may be conditional (a parameter exists only on one branch).
// It may Report intermediate values and stop when ShouldPrune says so
// (returning ErrPruned). A trial ends Complete, Pruned, or Failed with its
// error kept (an error or panic of the objective, a NaN value).
//
//	study, _ := hpo.NewStudy(ctx, hpo.Options{Direction: hpo.Minimize,
//		Sampler: hpo.NewTPESampler(hpo.TPEOptions{Seed: 1}), Pruner: hpo.NewASHA(1, 3)})
//	err := study.Optimize(ctx, func(t *hpo.Trial) (float64, error) {
//		lr := t.SuggestFloat("lr", 1e-4, 1e-1, hpo.Log())
//		...
//	}, 100, 2) // 100 trials on 2 goroutines
//
// Samplers: RandomSampler, GridSampler and TPESampler (Bergstra et al.
// 2011, with Optuna's defaults: 10 random start-up trials, γ(n) =
// min(⌈0.1n⌉, 25), 24 candidates, a prior component; optionally
// multivariate and grouped); for a given history its estimators and choice
// are Optuna 3.1's (TestTPEMatchesOptuna31). All are seeded and
// reproducible.
//
// Pruners and schedulers: MedianPruner (median stopping),
// SuccessiveHalvingPruner (ASHA, asynchronous), HyperbandPruner (ASHA in
// Hyperband's brackets); Study.SuccessiveHalving and Study.Hyperband run
// the synchronous algorithms of the papers for a BudgetObjective
// (HyperbandBrackets(81, 3) has brackets of 81, 34, 15, 8 and 5
// configurations); RunPBT is population based training, which exploits
// through checkpoints written with package checkpoint and refuses to copy
// a member that has none.
//
// Studies live in a Storage: MemoryStorage here; SQLite and PostgreSQL in
// package automl/hpo/sqlstore, where processes on one or many machines
// share a study. Trials are claimed atomically; a running trial sends
// heartbeats, and one whose worker died is failed as stale after
// Options.StaleAfter and, with RetryStale, re-run once with the same
// parameters, so a killed study resumes with no trial lost or run twice.
// Options.MaxTrials is a budget for the whole study across processes.
package hpo
