using System.Diagnostics;

namespace Became.Testing;

/// <summary>
/// A throw-away PKI and password file made with openssl and mosquitto_passwd in a temp folder: a CA, a broker
/// certificate for 127.0.0.1 signed by it, a client certificate signed by it, and a second, unrelated CA.
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    public const string User = "device";
    public const string Password = "s3cret-pass";

    private TestCertificates(string directory) => Directory = directory;

    public string Directory { get; }

    public string CaFile => Path.Combine(Directory, "ca.crt");

    public string ServerCertificate => Path.Combine(Directory, "server.crt");

    public string ServerKey => Path.Combine(Directory, "server.key");

    public string ClientCertificate => Path.Combine(Directory, "client.crt");

    public string ClientKey => Path.Combine(Directory, "client.key");

    /// <summary>A CA that signed nothing the broker uses: trusting only it must fail.</summary>
    public string OtherCaFile => Path.Combine(Directory, "other-ca.crt");

    public string PasswordFile => Path.Combine(Directory, "passwd");

    public static async Task<TestCertificates> CreateAsync()
    {
        var pki = new TestCertificates(System.IO.Directory.CreateTempSubdirectory("became-pki-").FullName);
        try
        {
            await pki.MakeCaAsync("ca", "Became test CA");
            await pki.MakeCaAsync("other-ca", "Unrelated CA");
            await pki.MakeSignedAsync("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
            await pki.MakeSignedAsync("client", "became-device", "extendedKeyUsage=clientAuth\n");
            await RunAsync("mosquitto_passwd", "-b", "-c", pki.PasswordFile, User, Password);
            return pki;
        }
        catch
        {
            pki.Dispose();
            throw;
        }
    }

    /// <summary>mosquitto settings for its (only) listener: TLS with this CA, passwords required.</summary>
    public string BrokerConfig(bool requireClientCertificate) => $"""
        allow_anonymous false
        password_file {PasswordFile}
        cafile {CaFile}
        certfile {ServerCertificate}
        keyfile {ServerKey}
        require_certificate {(requireClientCertificate ? "true" : "false")}
        """;

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    private Task MakeCaAsync(string name, string commonName) => RunAsync(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", Path.Combine(Directory, name + ".key"), "-out", Path.Combine(Directory, name + ".crt"),
        "-days", "2", "-subj", "/CN=" + commonName,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");

    private async Task MakeSignedAsync(string name, string commonName, string extensions)
    {
        string key = Path.Combine(Directory, name + ".key");
        string request = Path.Combine(Directory, name + ".csr");
        string extensionFile = Path.Combine(Directory, name + ".ext");
        await File.WriteAllTextAsync(extensionFile, extensions);
        await RunAsync("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", request, "-subj", "/CN=" + commonName);
        await RunAsync("openssl", "x509", "-req", "-in", request, "-CA", CaFile, "-CAkey", Path.Combine(Directory, "ca.key"),
            "-CAcreateserial", "-days", "2", "-extfile", extensionFile, "-out", Path.Combine(Directory, name + ".crt"));
    }

    private static async Task RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {await output}{await error}");
        }
    }
}
