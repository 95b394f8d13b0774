using Became.Agent.Hosting;
using Became.Agent.Jobs;
using Became.Agent.Storage;
using Became.TestAgent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// `became-test-agent run ARGS` is `became run ARGS` with the pause point of BECAME_TEST_PAUSE_AT: at the job's points
// (stage1, stage2, swap) and inside the store's commit transaction (commit).
string[] settings = args.Length > 0 && args[0] == "run" ? args[1..] : args;
return await AgentHost.RunAsync(settings, configure: services =>
{
    services.AddSingleton(sp => TestPause.FromEnvironment(sp.GetRequiredService<ILogger<TestPause>>()));
    services.AddSingleton<IJobCheckpoints>(sp => sp.GetRequiredService<TestPause>());
    services.AddSingleton<IStorageFaults>(sp => new PauseInCommit(sp.GetRequiredService<TestPause>()));
});
