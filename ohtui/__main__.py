from ohtui.cli import main

raise SystemExit(main())
