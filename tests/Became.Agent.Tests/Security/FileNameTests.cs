using Became.Agent.Tests.Agent;

namespace Became.Agent.Tests.Security;

/// <summary>Nothing from a message becomes a file path: payloads are stored under their sha256, records in LiteDB.</summary>
[Trait("Speed", "Slow")]
public sealed class FileNameTests
{
    [Fact]
    public async Task Task_id_never_names_a_file_in_the_data_directory()
    {
        await using var agent = await AgentHarness.StartAsync();
        const string id = "probe.name-in-path_0";

        await agent.PublishTaskAsync(id, AgentHarness.SplitTask(0, 100));
        // Once deployed, no write is in flight (an atomic write's temp file is named after the content's hash too).
        await agent.WaitForAsync("model.deployed", id);

        var files = Directory.EnumerateFileSystemEntries(agent.DataDirectory, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        Assert.NotEmpty(files);
        Assert.DoesNotContain(files, name => name!.Contains("probe", StringComparison.OrdinalIgnoreCase));
        Assert.All(Directory.EnumerateFiles(Path.Combine(agent.DataDirectory, "blobs")).Select(Path.GetFileName), name => Assert.Matches("^[0-9a-f]{64}$", name));
    }
}
