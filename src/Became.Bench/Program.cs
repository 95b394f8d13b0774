using Became.Bench;
using Became.CommandLine;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

// Nothing unhandled may reach the runtime: it would abort with a stack trace.
try
{
    return await BenchCommand.RunAsync(args, Console.Out, Console.Error, cancel.Token);
}
catch (Exception e)
{
    Console.Error.WriteLine(CommandLineRunner.Unexpected("became bench", e));
    return 1;
}
