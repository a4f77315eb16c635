from pyxl.cli import main

raise SystemExit(main())
