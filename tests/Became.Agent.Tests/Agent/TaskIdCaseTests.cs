namespace Became.Agent.Tests.Agent;

/// <summary>Task ids are case-sensitive end to end, as topics are: "CaseId-X" and "caseid-X" are two tasks.</summary>
[Trait("Speed", "Slow")]
public sealed class TaskIdCaseTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Task_ids_that_differ_only_in_case_are_two_tasks_with_their_own_accuracy()
    {
        await using var agent = await AgentHarness.StartAsync();
        await agent.PublishTaskAsync("CaseId-X", AgentHarness.SplitTask(0, 200));
        await agent.WaitForAsync("model.deployed", "CaseId-X", Patience);
        await agent.PublishTaskAsync("caseid-X", AgentHarness.SplitTask(1, 200));
        await agent.WaitForAsync("model.deployed", "caseid-X", Patience);

        Assert.DoesNotContain(agent.Events, e => AgentHarness.Type(e) == "task.rejected");
        Assert.Equal(["CaseId-X", "caseid-X"], agent.Store.AllTasks().Select(t => t.Id));
        Assert.Equal(["CaseId-X", "caseid-X"], agent.Store.Deployed()!.Accuracy.Keys.Order(StringComparer.Ordinal));
    }
}
