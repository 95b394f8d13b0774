using Became.Cli;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

// Nothing unhandled may reach the runtime: it would abort with a stack trace and exit 134, which systemd restarts.
try
{
    return await BecameCli.RunAsync(args, Console.Out, Console.Error, cancel.Token);
}
catch (Exception e)
{
    Console.Error.WriteLine(BecameCli.Unexpected("became", e));
    return 1;
}
