using MQTTnet;

namespace Became.Protocol;

/// <summary>The socket buffers of Became's MQTT client connections, sized for multi-MiB task and model payloads.</summary>
public static class MqttSocketBuffers
{
    /// <summary>SO_SNDBUF and SO_RCVBUF asked for (the kernel caps it at net.core.wmem_max / rmem_max).</summary>
    /// <remarks>MQTTnet always sets both (8 KiB unless told), which switches off Linux's buffer autotuning: a 9 MiB task
    /// then crawls out 64 KiB per delayed ACK (about 40 ms each, 6 s in all) while mosquitto_pub, autotuned, takes
    /// 0.2 s. 4 MiB is Linux's own autotuning ceiling (tcp_wmem); an idle connection holds no buffer memory.</remarks>
    public const int Bytes = 4 << 20;

    /// <summary>Gives a TCP connection's options <see cref="Bytes"/> of socket buffer; returns the same options.</summary>
    public static MqttClientOptions WithPayloadSizedBuffers(this MqttClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ChannelOptions is MqttClientTcpOptions tcp)
        {
            tcp.BufferSize = Bytes;
        }

        return options;
    }
}
