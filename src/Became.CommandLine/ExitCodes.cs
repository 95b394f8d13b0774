namespace Became.CommandLine;

/// <summary>The exit codes of every <c>became</c> command, in one place (the README's table lists the same).</summary>
public static class ExitCodes
{
    /// <summary>Done as asked.</summary>
    public const int Ok = 0;

    /// <summary>A runtime failure: a request that failed, a worker that threw, an unexpected error.</summary>
    public const int Failure = 1;

    /// <summary>The user's mistake: a bad flag, value or setting, a taken port, a data directory in use; nothing was done.</summary>
    public const int Usage = 2;

    /// <summary>libtorch could not be loaded.</summary>
    public const int TorchUnavailable = 3;

    /// <summary>The broker refused the agent's credentials or certificates (EX_CONFIG): restarting would not help.</summary>
    public const int BrokerRefused = 78;

    /// <summary>Cancelled with Ctrl-C (128 + SIGINT).</summary>
    public const int Cancelled = 130;
}
