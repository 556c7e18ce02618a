// Package sqlstore keeps hyperparameter studies (package automl/hpo) in a
// SQL database so that many processes — on one machine or many — share
// them and a killed study resumes where it stopped:
//
//   - OpenSQLite: one file through the pure-Go driver modernc.org/sqlite
//     (no cgo): write-ahead logging, a busy timeout, IMMEDIATE write
//     transactions and retries with backoff on SQLITE_BUSY, so many
//     concurrent workers never see "database is locked";
//   - OpenPostgres: a PostgreSQL server through database/sql and
//     github.com/jackc/pgx/v5 (the way Optuna users share an RDB storage
//     across machines); claims lock the study's row (SELECT ... FOR
//     UPDATE) and serialization failures are retried.
//
// Both implement hpo.Storage with the same schema (tables hpo_studies,
// hpo_trials, hpo_params, hpo_values, hpo_attrs, created on open). A
// trial is claimed in one transaction, so exactly one worker gets it;
// writes to a trial succeed only while it is running under the worker that
// claimed it (hpo.ErrNotRunning otherwise), so a worker declared dead by
// the heartbeat timeout can never complete a trial that was re-run.
//
//	st, err := sqlstore.OpenSQLite("study.db")
//	...
//	study, err := hpo.NewStudy(ctx, hpo.Options{Name: "mlp", Storage: st,
//		MaxTrials: 100, StaleAfter: 30 * time.Second, RetryStale: true})
//
// Other packages (automl/meta, automl/nas) may keep their own searches in
// the same storage: any hpo.Storage works as their study store.
package sqlstore
