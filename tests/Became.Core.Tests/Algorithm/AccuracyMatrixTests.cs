using Became.Core.Evaluation;

namespace Became.Core.Tests.Algorithm;

/// <summary>ACC = mean of the last row; BWT = mean over j &lt; T of R[T][j] − R[j][j].</summary>
public sealed class AccuracyMatrixTests
{
    [Fact]
    public void Acc_and_Bwt_match_a_hand_computed_three_task_matrix()
    {
        // Entries above the diagonal are not yet-learned tasks; they are set here to show they do not count.
        var matrix = new AccuracyMatrix(
        [
            [90, 11, 12],
            [80, 85, 13],
            [70, 77, 95],
        ]);

        // ACC = (70 + 77 + 95) / 3 = 80.667; BWT = ((70 − 90) + (77 − 85)) / 2 = −14.
        Assert.Equal(242.0 / 3, matrix.Acc, 12);
        Assert.Equal(-14.0, matrix.Bwt, 12);
    }

    [Fact]
    public void Bwt_is_positive_when_learning_later_tasks_improves_earlier_ones()
    {
        var matrix = new AccuracyMatrix(
        [
            [60, 0],
            [66, 80],
        ]);

        Assert.Equal(6.0, matrix.Bwt, 12);
        Assert.Equal(73.0, matrix.Acc, 12);
    }

    [Fact]
    public void A_single_task_has_no_backward_transfer()
    {
        var matrix = new AccuracyMatrix([[42.0]]);

        Assert.Equal(0.0, matrix.Bwt);
        Assert.Equal(42.0, matrix.Acc);
    }
}
