using Became.Agent.Bench;
using Became.Agent.Hosting;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

const string usage = """
    became — continual learning on the edge (BECAME: gradient projection + adaptive merging)

    usage: became <command> [options]
      run      the agent: MQTT task intake, training, deployed model, state in LiteDB
               [--device-id ID] [--data-dir DIR] [--broker HOST:PORT | --embedded-port PORT]
               [--demo split-fmnist [--demo-samples N]] [--epochs N] [--method became|gpm|fixed|finetune]
      publish  send tasks to a device (became publish --help)
      pull     fetch a device's model over MQTT or HTTP (became pull -h)
      infer    ask a device for predictions over MQTT or HTTP (became infer -h)
      bench    offline benchmark of the methods on split-fmnist or permuted-fmnist (became bench --help)
      bench-infer  infer requests at a steady rate against a running agent: req/s, p50/p99 (became bench-infer -h)
    """;

if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
{
    Console.WriteLine(usage);
    return args.Length == 0 ? 2 : 0;
}

try
{
    return args[0] switch
    {
        "bench" => BenchCommand.Run(args[1..], Console.Out, Console.Error, cancel.Token),
        "run" => await AgentHost.RunAsync(args[1..]),
        "publish" => await PublishCommand.RunAsync(args[1..], Console.Out, Console.Error, cancel.Token),
        "pull" => await RequestCommands.PullAsync(args[1..], Console.Out, Console.Error, cancel.Token),
        "infer" => await RequestCommands.InferAsync(args[1..], Console.Out, Console.Error, cancel.Token),
        "bench-infer" => await InferBenchCommand.RunAsync(args[1..], Console.Out, Console.Error, cancel.Token),
        _ => Unknown(args[0]),
    };
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("became: cancelled");
    return 130;
}

static int Unknown(string command)
{
    Console.Error.WriteLine($"became: unknown command '{command}'.");
    Console.Error.WriteLine(usage);
    return 2;
}
