// libtorch's default generator is one per process: a test that seeds it (manual_seed, or a model built after
// ContinualExperiment seeds it) draws different numbers whenever a test of another class draws at the same time.
// The algorithm tests run one after another (16 s instead of 15 s here), so every seed means what it says.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
