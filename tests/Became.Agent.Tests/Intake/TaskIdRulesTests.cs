using Became.Agent.Intake;
using Became.Protocol;

namespace Became.Agent.Tests.Intake;

public sealed class TaskIdRulesTests
{
    [Theory]
    [InlineData("task-1")]
    [InlineData("split_0.v2")]
    [InlineData("A")]
    public void Ordinary_ids_are_valid(string id)
    {
        Assert.True(TaskIdRules.IsValid(id, out var reason));
        Assert.Equal("", reason);
    }

    [Fact]
    public void Id_of_128_characters_is_valid()
    {
        Assert.True(TaskIdRules.IsValid(new string('a', 128), out _));
    }

    [Theory]
    [InlineData("a/b", "'/'")]
    [InlineData("a+b", "'+'")]
    [InlineData("a#b", "'#'")]
    [InlineData("a b", "' '")]
    [InlineData("tâche", "'â'")]
    public void Characters_outside_the_alphabet_are_rejected(string id, string phrase)
    {
        Assert.False(TaskIdRules.IsValid(id, out var reason));
        Assert.Contains(phrase, reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_id_is_rejected()
    {
        Assert.False(TaskIdRules.IsValid("", out var reason));
        Assert.Contains("empty", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Id_of_129_characters_is_rejected()
    {
        Assert.False(TaskIdRules.IsValid(new string('a', 129), out var reason));
        Assert.Contains("129 characters; at most 128", reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(".")]
    [InlineData("..")]
    public void Dot_and_dot_dot_are_rejected(string id)
    {
        Assert.False(TaskIdRules.IsValid(id, out var reason));
        Assert.Contains("reserved", reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a..b")]
    [InlineData("task..")]
    public void Double_dot_inside_an_id_is_rejected(string id)
    {
        Assert.False(TaskIdRules.IsValid(id, out var reason));
        Assert.Contains("'..'", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Leading_dot_is_rejected()
    {
        Assert.False(TaskIdRules.IsValid(".hidden", out var reason));
        Assert.Contains("starts with '.'", reason, StringComparison.Ordinal);
    }
}
