namespace Became.Testing;

/// <summary>Runs examples/python/became_example.py as a child process, as a PyTorch user would.</summary>
internal static class PythonExample
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    /// <summary>The interpreter: $BECAME_PYTHON, else Debian's /usr/bin/python3 (where python3-torch installs; a pyenv
    /// or venv python3 earlier on PATH does not see it), else python3 from PATH.</summary>
    public static string Interpreter { get; } =
        Environment.GetEnvironmentVariable("BECAME_PYTHON") is { Length: > 0 } configured ? configured
        : File.Exists("/usr/bin/python3") ? "/usr/bin/python3"
        : "python3";

    public static string RepositoryRoot => ToolProcess.RepositoryRoot;

    public static string Script => Path.Combine(RepositoryRoot, "examples", "python", "became_example.py");

    /// <summary>Fails the test (never skips it) when the interpreter, torch or paho-mqtt is missing.</summary>
    public static async Task EnsureAvailableAsync()
    {
        (int ExitCode, string Output, string Error) result;
        try
        {
            result = await RunAsync("-c", "import torch, paho.mqtt; print(torch.__version__)");
        }
        catch (InvalidOperationException e)
        {
            Assert.Fail($"The Python example tests need python3 with torch and paho-mqtt: {e.Message} Run scripts/setup.sh or apt-get install -y python3-torch python3-paho-mqtt.");
            throw;
        }

        Assert.True(
            result.ExitCode == 0,
            $"The Python example tests need torch and paho-mqtt, but '{Interpreter}' cannot import them: {result.Error.Trim()}. Run scripts/setup.sh or apt-get install -y python3-torch python3-paho-mqtt (or point BECAME_PYTHON at an interpreter that has them).");
    }

    /// <summary>Runs the example script with <paramref name="arguments"/> and returns its standard output; a non-zero
    /// exit fails the test with the script's standard error.</summary>
    public static async Task<string> RunScriptAsync(params string[] arguments)
    {
        var (exitCode, output, error) = await RunAsync([Script, .. arguments]);
        Assert.True(exitCode == 0, $"became_example.py {string.Join(' ', arguments)} exited with {exitCode}:\n{error}");
        return output;
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] arguments)
    {
        var result = await ToolProcess.RunAsync(Interpreter, arguments, Timeout);
        return (result.ExitCode, result.Output, result.Error);
    }
}

/// <summary>A temporary folder deleted with everything in it on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("became-python-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
