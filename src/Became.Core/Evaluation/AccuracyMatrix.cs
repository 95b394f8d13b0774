namespace Became.Core.Evaluation;

/// <summary>R[i][j] = test accuracy (percent) on task j after learning task i; entries j &gt; i are 0.</summary>
public sealed class AccuracyMatrix
{
    private readonly double[][] _rows;

    public AccuracyMatrix(int tasks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tasks, 1);
        _rows = Enumerable.Range(0, tasks).Select(_ => new double[tasks]).ToArray();
    }

    public AccuracyMatrix(double[][] rows)
    {
        if (rows.Length == 0 || rows.Any(r => r.Length != rows.Length))
        {
            throw new ArgumentException("An accuracy matrix is square and not empty.", nameof(rows));
        }

        _rows = rows.Select(r => (double[])r.Clone()).ToArray();
    }

    public int Tasks => _rows.Length;

    public double this[int afterTask, int onTask]
    {
        get => _rows[afterTask][onTask];
        set => _rows[afterTask][onTask] = value;
    }

    /// <summary>Average accuracy over all tasks after the last one: mean of the last row.</summary>
    public double Acc => _rows[^1].Average();

    /// <summary>Backward transfer: mean over j &lt; T of R[T][j] - R[j][j] (0 for a single task).</summary>
    public double Bwt
    {
        get
        {
            int last = Tasks - 1;
            if (last == 0)
            {
                return 0;
            }

            double sum = 0;
            for (int j = 0; j < last; j++)
            {
                sum += _rows[last][j] - _rows[j][j];
            }

            return sum / last;
        }
    }

    /// <summary>Rows as jagged arrays (copies), e.g. for JSON.</summary>
    public double[][] ToRows() => _rows.Select(r => (double[])r.Clone()).ToArray();
}
