using Became.Core.Merging;
using Became.Core.Projection;
using Became.Core.Training;

namespace Became.Core.Tests.Algorithm;

public sealed class MethodRegistryTests
{
    [Fact]
    public void Base_method_registry_lists_gpm_and_sgp()
    {
        Assert.Equal(["gpm", "sgp"], ProjectionKind.All.Select(k => k.Name));
    }

    [Fact]
    public void Base_method_names_read_as_one_phrase()
    {
        Assert.Equal("gpm or sgp", ProjectionKind.Names);
    }

    [Theory]
    [InlineData("gpm")]
    [InlineData("sgp")]
    public void Base_method_parses_its_own_name(string name)
    {
        Assert.Equal(name, ProjectionKind.Parse(name).Name);
    }

    [Fact]
    public void Unknown_base_method_is_one_line_naming_the_known_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => ProjectionKind.Parse("trgp"));

        Assert.Equal("Unknown projection 'trgp': not gpm or sgp.", error.Message);
    }

    [Theory]
    [InlineData("GPM")]
    [InlineData(" sgp")]
    [InlineData("")]
    [InlineData(null)]
    public void Base_method_names_match_exactly(string? name)
    {
        Assert.False(ProjectionKind.TryParse(name, out _));
    }

    [Fact]
    public void Only_sgp_weighs_its_directions()
    {
        Assert.Equal(["sgp"], ProjectionKind.All.Where(k => k.WeighsDirections).Select(k => k.Name));
    }

    [Fact]
    public void Method_registry_lists_the_four_user_names()
    {
        Assert.Equal(["finetune", "gpm", "became", "fixed"], ContinualMethod.All.Select(m => m.Name));
    }

    [Fact]
    public void Unknown_method_is_one_line_naming_the_known_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => ContinualMethod.Parse("ewc"));

        Assert.Equal("Unknown method 'ewc'. Known: finetune, gpm, became, fixed.", error.Message);
    }

    [Theory]
    [InlineData("finetune", 0)]
    [InlineData("gpm", 1)]
    [InlineData("became", 2)]
    [InlineData("fixed", 2)]
    public void Method_composes_its_plugins(string name, int plugins)
    {
        var options = new LearnerOptions { Method = ContinualMethod.Parse(name) };
        var created = options.Method.CreatePlugins(options);
        try
        {
            Assert.Equal(plugins, created.Count);
        }
        finally
        {
            foreach (var plugin in created)
            {
                plugin.Dispose();
            }
        }
    }

    [Fact]
    public void Stage_2_plugin_comes_before_the_base_method()
    {
        var options = new LearnerOptions { Method = ContinualMethod.Became };
        var created = options.Method.CreatePlugins(options);

        Assert.IsType<BecameMerge>(created[0]);
        Assert.IsNotType<BecameMerge>(created[1]);
    }
}
