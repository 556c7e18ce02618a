// Package meta is meta-learning over few-shot tasks (course module 5):
// MAML with second-order gradients through the inner SGD steps (Finn et
// al. 2017), optionally with per-element learnable inner step sizes
// (Meta-SGD, Li et al. 2017), first-order MAML, and Reptile (Nichol et al.
// 2018); task samplers for sine regression (MAML §5.1) and N-way K-shot
// classification episodes of the embedded 8x8 digits with the classes
// split between meta-training and meta-testing.
//
// A Learner holds the model whose parameters are the meta-parameters θ.
// Adaptation never mutates the model: the inner loop runs on functional
// views (nn.WithParamList) whose parameters are Vars computed from θ, and
// the meta-gradient is autograd.Grad of the query loss with respect to θ,
// through the inner gradients (CreateGraph) for MAML. The tasks of a
// meta-batch are processed on several goroutines (Config.Workers), and
// Learner.Step averages the meta-gradient over the ranks of a
// collectives.Comm, so a meta-batch can be spread over processes or
// devices like data-parallel training.
//
//	learner := meta.NewLearner(model, meta.Config{Method: meta.MAML, InnerSteps: 1, InnerLR: 0.01})
//	opt := optim.NewAdam(learner.MetaParams(), optim.Options{LR: 1e-3})
//	r := rand.New(rand.NewPCG(1, 2))
//	for range iters {
//		tasks := meta.SampleBatch(meta.Sine{K: 10}, r, 25)
//		loss, err := learner.Step(ctx, tasks, opt, nil)
//		...
//	}
package meta
