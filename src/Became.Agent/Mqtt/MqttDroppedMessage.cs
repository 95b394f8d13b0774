namespace Became.Agent.Mqtt;

/// <summary>A publication <see cref="MqttConnection"/> gave up on, as told to <see cref="MqttConnection.MessageDropped"/>.</summary>
/// <param name="Topic">Where it was to go.</param>
/// <param name="Bytes">Its size as a PUBLISH packet (payload, topic and properties).</param>
/// <param name="Reason">One of the <see cref="MqttDropReasons"/>.</param>
/// <param name="Detail">A sentence for people: the limit it broke, or how it failed.</param>
public sealed record MqttDroppedMessage(string Topic, long Bytes, string Reason, string Detail);

/// <summary>Why a publication was given up.</summary>
public static class MqttDropReasons
{
    /// <summary>Larger than the broker's Maximum Packet Size (MQTT 5 CONNACK) or than MQTT can carry: never sent.</summary>
    public const string TooLarge = "too_large";

    /// <summary>Its publication failed on a live connection <see cref="MqttOutbox.MaxPublishAttempts"/> times.</summary>
    public const string Undeliverable = "undeliverable";

    /// <summary>The broker answered with an error reason code (not authorized, quota exceeded, ...).</summary>
    public const string Refused = "refused";
}
