using Became.Agent.Configuration;
using Became.Agent.Storage;
using Became.Core.Native;
using Became.Core.Serialization;
using Became.Core.TaskAgnostic;
using Became.Core.Training;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using static TorchSharp.torch;

namespace Became.Agent.Deployment;

/// <summary>
/// Serves a stored version: checks its files against their sha256, builds the network from the model file and takes
/// the class statistics for answers without a task id from the state file (serving needs no memory bases or Fisher:
/// those are the next job's, which reads the state file itself).
/// </summary>
public sealed class ServedModelLoader(AgentStore store, DeployedModel deployed, IOptions<AgentOptions> options, ComputeDevice device, ILogger<ServedModelLoader> logger)
{
    private readonly AgentOptions _options = options.Value;

    /// <summary>The version that serves now (0 before the first model).</summary>
    public int ServingVersion => deployed.Current.Version;

    /// <summary>Reads the version's model and state files against their sha256; throws <see cref="InvalidDataException"/>
    /// or <see cref="FileNotFoundException"/> naming the damaged one (both are checked: the next job needs the state).</summary>
    public void CheckFiles(ModelVersionRecord version)
    {
        store.Blobs.Get(version.ModelBlob);
        store.Blobs.Get(version.StateBlob);
    }

    /// <summary>Builds <paramref name="version"/>'s network from its model file and serves it with the state file's class
    /// statistics (each file checked against its sha256 as it is read); null serves nothing.</summary>
    public void Serve(ModelVersionRecord? version)
    {
        if (version is null)
        {
            deployed.Swap(DeployedSnapshot.None);
            return;
        }

        var network = _options.Model.CreateNetwork(device.Device, _options.Training.Seed + version.Version);
        try
        {
            using (NewDisposeScope())
            {
                var parameters = SafeTensorsFile.Parse(store.Blobs.Get(version.ModelBlob)).Tensors.ToDictionary(t => t.Name, SafeTensorsFile.ToTensor);
                LearnerCheckpoint.ImportNetwork(network, version.HeadClasses, parameters);
            }

            network.Training = false;
        }
        catch
        {
            network.Dispose();
            throw;
        }

        Swap(version, network);
    }

    /// <summary>Serves <paramref name="network"/> (already holding <paramref name="version"/>'s weights, e.g. the job's own)
    /// as that version; the holder owns it from here on.</summary>
    public void Swap(ModelVersionRecord version, Core.Models.IContinualNetwork network)
    {
        network.Training = false;

        // A job's network still holds its last (zeroed) gradients, as large as its weights: serving needs none.
        if (network is TorchSharp.torch.nn.Module module)
        {
            module.zero_grad(set_to_none: true);
        }

        ClassFeatureMemory? statistics;
        try
        {
            statistics = ReadClassStatistics(version);
        }
        catch
        {
            network.Dispose();
            throw;
        }

        deployed.Swap(new DeployedSnapshot(version.Version, version.TaskIds, network, version.ModelBlob, statistics));
    }

    /// <summary>The version's class statistics from its state file, or null when it keeps none for every task.</summary>
    private ClassFeatureMemory? ReadClassStatistics(ModelVersionRecord version)
    {
        using var scope = NewDisposeScope();
        var tensors = SafeTensorsFile.Parse(store.Blobs.Get(version.StateBlob)).Tensors
            .Where(t => t.Name.StartsWith(ClassFeatureMemory.Prefix, StringComparison.Ordinal))
            .ToDictionary(t => t.Name, SafeTensorsFile.ToTensor);
        var statistics = new ClassFeatureMemory();
        try
        {
            statistics.Import(tensors);
        }
        catch (InvalidDataException e)
        {
            // Answers with a task id need none of it: the version serves, without task-agnostic answers.
            logger.LogError("Version {Version}'s class statistics are unusable, it answers only with a task id: {Reason}", version.Version, e.Message);
        }

        if (statistics.TaskCount == version.TaskIds.Length)
        {
            return statistics;
        }

        statistics.Dispose();
        return null;
    }
}
